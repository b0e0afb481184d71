package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/mmid"
	"github.com/mamlogin/mamlogin/intune"
)

// What the app reads before it offers Intune sign-in: the client licence
// and the client configuration, both in Mattermost's "old" format (a flat
// object of strings), the only one Mattermost serves.

// serverVersion is what the example reports as its Mattermost version.
const serverVersion = "10.11.0"

// licenseIssued dates the example's licence (it never expires).
var licenseIssued = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// clientLicense answers as a server licensed for Enterprise Advanced: the
// app offers Intune sign-in only when IsLicensed is "true" and SkuShortName
// is "advanced" (or "entry").
func (s *server) clientLicense(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") != "old" {
		writeError(w, http.StatusNotImplemented, "api.license.client.old_format.app_error",
			"New format for the client license is not supported yet. Please specify format=old in the query string.")
		return
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	writeJSON(w, http.StatusOK, map[string]string{
		"IsLicensed":                "true",
		"IsTrial":                   "false",
		"IsGovSku":                  "false",
		"Id":                        "intuneexamplelicense00000a",
		"IssuedAt":                  ms(licenseIssued),
		"StartsAt":                  ms(licenseIssued),
		"ExpiresAt":                 ms(licenseIssued.AddDate(100, 0, 0)),
		"Name":                      "Intune example",
		"Company":                   "Intune example",
		"SkuName":                   "Enterprise Advanced",
		"SkuShortName":              "advanced",
		"Users":                     "1000",
		"LDAP":                      "true",
		"LDAPGroups":                "true",
		"MFA":                       "true",
		"SAML":                      "true",
		"Cluster":                   "true",
		"Metrics":                   "true",
		"GoogleOAuth":               "false",
		"Office365OAuth":            "true",
		"OpenId":                    "true",
		"Compliance":                "true",
		"MHPNS":                     "true",
		"Announcement":              "true",
		"Elasticsearch":             "false",
		"DataRetention":             "true",
		"MessageExport":             "true",
		"GuestAccounts":             "true",
		"SharedChannels":            "false",
		"Cloud":                     "false",
		"IDLoadedPushNotifications": "true",
		"EmailNotificationContents": "true",
		"CustomPermissionsSchemes":  "true",
		"CustomTermsOfService":      "true",
		"LockTeammateNameDisplay":   "true",
		"OutgoingOAuthConnections":  "false",
	})
}

// diagnosticIDSetting names the stored DiagnosticId (sqlstore settings).
const diagnosticIDSetting = "diagnostic_id"

// loadDiagnosticID returns the server's DiagnosticId, made by the first
// replica that starts on an empty database and stored there: the same for
// every replica and across restarts, as Mattermost's (its telemetry id, in
// its Systems table). The app refuses a server whose client configuration
// has none ("A DiagnosticId value is missing for this server",
// mattermost-mobile app/screens/server/index.tsx) and keys its record of
// the server by it (getServerByIdentifier; the SSO screen passes it to the
// sign-in, app/screens/sso/index.tsx): an id that changed on a restart or
// differed between replicas would make one server look like several.
func loadDiagnosticID(ctx context.Context, db *sqlstore.DB) (string, error) {
	return db.SettingOnce(ctx, diagnosticIDSetting, func() (string, error) { return mmid.New(), nil })
}

// clientConfig publishes the Intune keys of the configuration sign-ins run
// on now (LoginHandler.ClientConfig: IntuneMAMEnabled, IntuneScope,
// IntuneAuthService), beside the usual fields, with the sign-in button of
// the enforced provider switched on.
func (s *server) clientConfig(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") != "old" {
		writeError(w, http.StatusNotImplemented, "api.config.client.old_format.app_error",
			"New format for the client configuration is not supported yet. Please specify format=old in the query string.")
		return
	}
	provider := s.login.Config().AuthService
	if provider == "" {
		provider = s.o.provider
	}
	on := func(p intune.AuthService) string {
		return strconv.FormatBool(strings.EqualFold(string(provider), string(p)))
	}
	cc := map[string]string{
		"DiagnosticId":                    s.diagnosticID,
		"Version":                         serverVersion,
		"BuildNumber":                     serverVersion,
		"BuildDate":                       "example",
		"BuildHash":                       "example",
		"BuildEnterpriseReady":            "true",
		"SiteName":                        "Intune example",
		"SiteURL":                         s.base,
		"DiagnosticsEnabled":              "false",
		"EnableSignInWithEmail":           "false",
		"EnableSignInWithUsername":        "false",
		"EnableSignUpWithEmail":           "false",
		"EnableSignUpWithGitLab":          "false",
		"EnableSignUpWithGoogle":          "false",
		"EnableSignUpWithOffice365":       on(intune.AuthServiceOffice365),
		"EnableSignUpWithOpenId":          on(intune.AuthServiceOpenID),
		"OpenIdButtonText":                "Entra ID",
		"OpenIdButtonColor":               "#0078D4",
		"EnableSaml":                      on(intune.AuthServiceSAML),
		"SamlLoginButtonText":             "Entra ID (SAML)",
		"EnableLdap":                      "false",
		"EnableMultifactorAuthentication": "false",
	}
	for k, v := range s.login.ClientConfig() {
		cc[k] = v
	}
	writeJSON(w, http.StatusOK, cc)
}
