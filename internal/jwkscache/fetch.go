package jwkscache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-json-experiment/json"
)

// Bounds on what Entra serves.
const (
	MaxDiscoveryBytes = 64 << 10 // Entra's discovery document is under 2 KB
	maxRedirects      = 5
)

// UserAgent names this library on every request, so that Entra's and a
// proxy's logs say who fetched.
const UserAgent = "mamlogin-intune (+https://github.com/mamlogin/mamlogin)"

// fetcher performs the GETs of one key source under the transport rule.
type fetcher struct {
	client   *http.Client
	maxBytes int64
}

// newFetcher copies the host's client (its Transport, proxy and TLS settings
// are kept) and adds the redirect rule. The host's own CheckRedirect, if
// any, still runs after ours.
func newFetcher(base *http.Client, timeout time.Duration, maxBytes int64) *fetcher {
	c := &http.Client{Timeout: timeout}
	if base != nil {
		copied := *base
		c = &copied
		if c.Timeout == 0 {
			c.Timeout = timeout
		}
	}
	hostCheck := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if err := allowedNext(via[0].URL, req.URL); err != nil {
			return err
		}
		if hostCheck != nil {
			return hostCheck(req, via)
		}
		return nil
	}
	return &fetcher{client: c, maxBytes: maxBytes}
}

// response is a fetched body and what the server said of its clock.
type response struct {
	body []byte
	date time.Time // the Date header; zero when absent or unreadable
	at   time.Time // when it arrived, by the local clock
}

// get fetches u, requiring 200 and at most max bytes. noCache asks caches on
// the way for a fresh copy (a refresh for an unknown kid: a proxy serving a
// stale set would hide a rotated key).
func (f *fetcher) get(ctx context.Context, u *url.URL, max int64, noCache bool, now func() time.Time) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if noCache {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named below, without its query
		}
		return nil, fmt.Errorf("GET %s: %w", Redact(u.String()), err)
	}
	defer resp.Body.Close()
	r := &response{at: now()}
	r.date, _ = http.ParseTime(resp.Header.Get("Date"))
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: status %d", Redact(u.String()), resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("GET %s: body of %d bytes is over the %d-byte bound", Redact(u.String()), resp.ContentLength, max)
	}
	r.body, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", Redact(u.String()), err)
	}
	if int64(len(r.body)) > max {
		return nil, fmt.Errorf("GET %s: body is over the %d-byte bound", Redact(u.String()), max)
	}
	return r, nil
}

// Discovery is the part of an OpenID discovery document this package reads.
type Discovery struct {
	Issuer            string `json:"issuer"`
	JWKSURI           string `json:"jwks_uri"`
	CloudInstanceName string `json:"cloud_instance_name"`
}

// ParseDiscovery reads a discovery document strictly (exact member names, no
// duplicates), requires its issuer to be wantIssuer (when not "") and its
// jwks_uri to be allowed from docURL under the transport rule.
func ParseDiscovery(body []byte, docURL *url.URL, wantIssuer string) (*Discovery, error) {
	var d Discovery
	err := json.Unmarshal(body, &d) // exact names, no duplicates, valid UTF-8: json's defaults
	if err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
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
	if err := allowedNext(docURL, u); err != nil {
		return nil, fmt.Errorf("discovery jwks_uri: %w", err)
	}
	return &d, nil
}
