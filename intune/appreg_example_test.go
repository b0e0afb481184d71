package intune_test

import (
	"fmt"

	"github.com/mamlogin/mamlogin/intune"
)

// A server API app downloaded from the portal's Manifest page (cut short
// here): it still issues v1 tokens and has no optional claims.
func ExampleCheckAppRegistration() {
	manifest := []byte(`{
		"appId": "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15",
		"identifierUris": ["api://6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"],
		"signInAudience": "AzureADMyOrg",
		"optionalClaims": null,
		"api": {
			"requestedAccessTokenVersion": null,
			"oauth2PermissionScopes": [{"id": "d4c3b2a1-1111-4222-8333-944455556666", "isEnabled": true, "type": "User", "value": "login.mattermost"}],
			"preAuthorizedApplications": [
				{"appId": "9ac649f1-4f77-44d6-9792-b2f54ab3c9a7", "delegatedPermissionIds": ["d4c3b2a1-1111-4222-8333-944455556666"]},
				{"appId": "64e9952b-20eb-46dc-92ad-99089ed24903", "delegatedPermissionIds": ["d4c3b2a1-1111-4222-8333-944455556666"]}
			]
		},
		"requiredResourceAccess": [{"resourceAppId": "0a5f63c0-b750-4f38-a71c-4fc0d58b89e2",
			"resourceAccess": [{"id": "3c7192af-9629-4473-9276-d35e4e4b36c5", "type": "Scope"}]}]
	}`)
	cfg := intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID,
		TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"}

	r := intune.CheckAppRegistration(manifest, cfg)
	for _, c := range r.Checks {
		result := "ok  "
		if !c.OK {
			result = "FAIL"
		}
		fmt.Printf("%s %-16s %s\n", result, c.Name, c.Found)
	}
	fmt.Println("paste over the manifest's members:")
	fmt.Println(r.Fix)
	// Output:
	// ok   manifest         Microsoft Graph format, 844 bytes
	// ok   app_id           appId "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"
	// ok   sign_in_audience signInAudience "AzureADMyOrg"
	// ok   identifier_uri   identifierUris ["api://6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"]
	// ok   scope            api.oauth2PermissionScopes: login.mattermost id "d4c3b2a1-1111-4222-8333-944455556666", isEnabled true, type "User"
	// ok   pre_authorized   api.preAuthorizedApplications: 9ac649f1-4f77-44d6-9792-b2f54ab3c9a7 (release) for ["d4c3b2a1-1111-4222-8333-944455556666"]; 64e9952b-20eb-46dc-92ad-99089ed24903 (beta) for ["d4c3b2a1-1111-4222-8333-944455556666"]
	// FAIL token_version    api.requestedAccessTokenVersion null (v1 tokens)
	// FAIL optional_claims  optionalClaims.accessToken []
	// ok   mam_permission   Microsoft Mobile Application Management: "3c7192af-9629-4473-9276-d35e4e4b36c5" (type "Scope")
	// paste over the manifest's members:
	// {
	//   "optionalClaims": {
	//     "idToken": [],
	//     "accessToken": [
	//       {
	//         "name": "email",
	//         "source": null,
	//         "essential": false,
	//         "additionalProperties": []
	//       },
	//       {
	//         "name": "family_name",
	//         "source": null,
	//         "essential": false,
	//         "additionalProperties": []
	//       },
	//       {
	//         "name": "given_name",
	//         "source": null,
	//         "essential": false,
	//         "additionalProperties": []
	//       },
	//       {
	//         "name": "preferred_username",
	//         "source": null,
	//         "essential": false,
	//         "additionalProperties": []
	//       },
	//       {
	//         "name": "upn",
	//         "source": null,
	//         "essential": false,
	//         "additionalProperties": []
	//       }
	//     ],
	//     "saml2Token": []
	//   },
	//   "api": {
	//     "requestedAccessTokenVersion": 2,
	//     "oauth2PermissionScopes": [
	//       {
	//         "id": "d4c3b2a1-1111-4222-8333-944455556666",
	//         "isEnabled": true,
	//         "type": "User",
	//         "value": "login.mattermost"
	//       }
	//     ],
	//     "preAuthorizedApplications": [
	//       {
	//         "appId": "9ac649f1-4f77-44d6-9792-b2f54ab3c9a7",
	//         "delegatedPermissionIds": [
	//           "d4c3b2a1-1111-4222-8333-944455556666"
	//         ]
	//       },
	//       {
	//         "appId": "64e9952b-20eb-46dc-92ad-99089ed24903",
	//         "delegatedPermissionIds": [
	//           "d4c3b2a1-1111-4222-8333-944455556666"
	//         ]
	//       }
	//     ]
	//   }
	// }
}
