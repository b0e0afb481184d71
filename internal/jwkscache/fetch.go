package jwkscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxDiscoveryBytes bounds the discovery document (Entra's is under 2 KB).
const MaxDiscoveryBytes = 64 << 10

// get fetches url with ctx, requiring 200 and at most max bytes of body.
func get(ctx context.Context, client *http.Client, rawURL string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: status %d", redact(rawURL), resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("GET %s: body of %d bytes is over the %d-byte bound", redact(rawURL), resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(rawURL), err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("GET %s: body is over the %d-byte bound", redact(rawURL), max)
	}
	return body, nil
}

// Discovery is the part of an OpenID discovery document this package reads.
type Discovery struct {
	Issuer            string `json:"issuer"`
	JWKSURI           string `json:"jwks_uri"`
	CloudInstanceName string `json:"cloud_instance_name"`
}

// ParseDiscovery reads a discovery document, requires its issuer to be
// wantIssuer (when not "") and its jwks_uri to be an https URL (http only
// when the document itself came over http, as from a loopback test server).
func ParseDiscovery(body []byte, docURL, wantIssuer string) (*Discovery, error) {
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("discovery document is not JSON: %w", err)
	}
	if wantIssuer != "" && d.Issuer != wantIssuer {
		return nil, fmt.Errorf("discovery issuer is %q, expected %q: Tenant ID or authority is wrong", d.Issuer, wantIssuer)
	}
	if d.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	u, err := url.Parse(d.JWKSURI)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("discovery jwks_uri %q is not an absolute URL", d.JWKSURI)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && strings.HasPrefix(docURL, "http://")) {
		return nil, fmt.Errorf("discovery jwks_uri %q is not https", d.JWKSURI)
	}
	return &d, nil
}

// redact drops the query of a URL for logs and errors.
func redact(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// Redact drops the query of a URL, for logs and reports.
func Redact(raw string) string { return redact(raw) }
