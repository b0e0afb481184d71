package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func doctor(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDoctorToken(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	flags := []string{"token", "--tenant", tenant.TenantID, "--client", tenant.ClientID, "--authority", tenant.URL()}

	tok := tenant.Token()
	code, out, _ := doctor(t, tok+"\n", flags...)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "every check passed")

	bad := tenant.Token(intunetest.WithClaim("scp", "User.Read"))
	code, out, _ = doctor(t, bad, flags...)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL  scope")
	assert.Contains(t, out, "ent.intune.validate_token.invalid_token.app_error")
	assert.NotContains(t, out, strings.Split(bad, ".")[2], "never the signature")

	code, out, _ = doctor(t, bad, append(flags, "--json")...)
	assert.Equal(t, 1, code)
	var rep struct {
		OK     bool
		Checks []struct {
			Name, ErrorID, Detail, NextStep string
			OK                              bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.False(t, rep.OK)
	assert.Len(t, rep.Checks, 15)
	assert.NotContains(t, out, strings.Split(bad, ".")[2])
}

func TestDoctorTokenOnCommandLineWarns(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, _, errOut := doctor(t, "", "token", "--authority", tenant.URL(), tenant.Token())
	assert.Equal(t, 0, code, "tenant and client are taken from the token")
	assert.Contains(t, errOut, "shell history")
}

func TestDoctorFillsTenantFromToken(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, out, _ := doctor(t, tenant.Token(), "token", "--authority", tenant.URL())
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "note: no --tenant")
}

func TestDoctorCheck(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, out, _ := doctor(t, "", "check", "--tenant", tenant.TenantID, "--client", tenant.ClientID, "--authority", tenant.URL())
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "ok    keyset")

	code, out, _ = doctor(t, "", "check", "--tenant", "contoso.onmicrosoft.com", "--client", tenant.ClientID)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "TenantID")
}

func TestDoctorUsage(t *testing.T) {
	code, _, errOut := doctor(t, "", "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage")
	code, _, _ = doctor(t, "", "token")
	assert.Equal(t, 2, code, "no token on stdin")
	code, _, _ = doctor(t, "", "token", "--at", "yesterday")
	assert.Equal(t, 2, code)
}
