// Command chatserver is a runnable stand-in for a Mattermost-like chat server
// that signs users in with Intune MAM, using package intune. It needs no
// Entra account and no internet: it embeds a fake Entra tenant on loopback
// (package intunetest) and a dev-only endpoint that forges that tenant's
// tokens, so the whole sign-in can be tried with curl:
//
//	go run ./examples/chatserver
//	TOKEN=$(curl -s localhost:8065/dev/token)
//	curl -si localhost:8065/oauth/intune -H 'Content-Type: application/json' -H 'X-Requested-With: XMLHttpRequest' -d '{"device_id":"","access_token":"'$TOKEN'"}'
//
// Routes: POST /oauth/intune (where the shipping app posts) and
// POST /api/v4/users/login/intune (the sign-in); GET /api/v4/users/me
// (Authorization: Bearer <Token header>); GET /api/v4/config/client (the
// Intune keys the app reads); GET /dev/token (a fresh token; query oid,
// email, expired=1, aud, tid, scp, ver).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/mamlogin/mamlogin/intune"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8065", "listen address")
	provider := flag.String("provider", "office365", "enforced provider: openid, office365 or saml")
	retry401 := flag.Bool("retry-401", false, "answer invalid_token, token_expired and extract_auth_data with 401 (the shipping app retries only on 401); false gives the documented 400")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, options{service: intune.AuthService(*provider), retry401: *retry401, logger: log}); err != nil {
		log.Error("chatserver", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, o options) error {
	s, err := newServer(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Printf(`chatserver: listening on %s (provider %s, fake Entra tenant at %s)
  client config: curl -s %s/api/v4/config/client
  sign in:       TOKEN=$(curl -s %s/dev/token)
                 curl -si %s/oauth/intune -H 'Content-Type: application/json' -H 'X-Requested-With: XMLHttpRequest' -d '{"device_id":"","access_token":"'$TOKEN'"}'
  fail:          curl -si %s/oauth/intune -H 'Content-Type: application/json' -H 'X-Requested-With: XMLHttpRequest' -d '{"access_token":"'$(curl -s "%s/dev/token?expired=1")'"}'
`, base, o.service, s.tenant.URL(), base, base, base, base, base)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
