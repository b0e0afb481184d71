package intune

import "strings"

// The shipping Mattermost mobile app's Entra client IDs: the multi-tenant
// public clients the vendor owns, one per build, as the app's iOS build
// settings name them (mattermost-mobile). A token's azp is one of them. An
// allow-list (Config.AllowedClientIDs) that lacks the release client refuses
// every App Store user.
const (
	// MobileClientRelease is the App Store build of the Mattermost app.
	MobileClientRelease = "9ac649f1-4f77-44d6-9792-b2f54ab3c9a7"
	// MobileClientBeta is the beta (TestFlight) build.
	MobileClientBeta = "64e9952b-20eb-46dc-92ad-99089ed24903"
	// MobileClientPR is the build made for pull requests: a developer's, never a user's.
	MobileClientPR = "b8543726-2747-4acc-950a-f1ec2766bc2a"
)

// MobileClient is one of the shipping app's official client IDs and the
// build that uses it.
type MobileClient struct {
	ID    string // the Entra application (client) ID, the token's azp
	Build string // "release", "beta" or "pull request"
}

// MobileClients returns the official clients, release first. The slice is
// the caller's own: a fresh copy on every call.
func MobileClients() []MobileClient {
	return []MobileClient{
		{ID: MobileClientRelease, Build: "release"},
		{ID: MobileClientBeta, Build: "beta"},
		{ID: MobileClientPR, Build: "pull request"},
	}
}

// DefaultAllowedClientIDs returns the allow-list a production server wants:
// the release and beta clients (pull-request builds are a developer's). A
// fresh slice on every call.
func DefaultAllowedClientIDs() []string { return []string{MobileClientRelease, MobileClientBeta} }

// officialClient returns the build of an official client ID (compared
// ignoring case, as GUIDs are), or "".
func officialClient(id string) string {
	for _, c := range MobileClients() {
		if strings.EqualFold(c.ID, id) {
			return c.Build
		}
	}
	return ""
}
