package strictjson

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEach reads an Entra-shaped payload and one with 285 groups (the
// largest token Validate reads).
func BenchmarkEach(b *testing.B) {
	small := `{"aud":"6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15","iss":"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0","iat":1795500000,"nbf":1795500000,"exp":1795504500,"aio":"AWQAm/8YAAAAmBx8x4gqt0T0Bx9ZkJnsQ7R2GDoYpUfh+Zzn5hgIrVBMy0rFs7nHmPZaW3d1xAu/7oE8D3gxC9aODvUOvL2Aam+fMEg==","azp":"64e9952b-20eb-46dc-92ad-99089ed24903","azpacr":"0","email":"alice@contoso.onmicrosoft.com","name":"Alice Wonderland","oid":"9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b","preferred_username":"alice@contoso.onmicrosoft.com","rh":"1.AXkAv4j5cvGGr0GRqy180BHbRy5cH2p9m02Pjz8hDEt6nj0VAHR5AA.","scp":"login.mattermost","sid":"001e6c3a-6b5d-4f2a-9c1b-7d8e9f0a1b2c","sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","uti":"AbCdEfGhIjKlMnOpQrStUv","ver":"2.0"}`
	groups := make([]string, 285)
	for i := range groups {
		groups[i] = fmt.Sprintf(`"%08x-1c3e-4f5a-8b7c-6d5e4f3a2b1c"`, i)
	}
	big := small[:len(small)-1] + `,"groups":[` + strings.Join(groups, ",") + `]}`
	for _, in := range []struct{ name, data string }{{"Entra", small}, {"Groups285", big}} {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Each(in.data, func(string, Value) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
