package intunetest

// FromClient makes the token come from the mobile client id: its azp (and,
// in a token already turned v1 by WithClaim("ver", "1.0"), its appid, the
// v1 name of the same claim). The shipping app's clients are
// intune.MobileClientRelease (the App Store build), intune.MobileClientBeta
// and intune.MobileClientPR; intune.MobileClients lists them with their
// builds. Token's default is the tenant's MobileClientID (MobileClientID,
// the beta client, unless WithIDs says otherwise).
func FromClient(id string) TokenOption {
	return func(f *forge) {
		f.claims["azp"] = id
		if _, v1 := f.claims["appid"]; v1 || f.claims["ver"] == "1.0" {
			delete(f.claims, "azp")
			f.claims["appid"] = id
		}
	}
}
