package intunetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
)

// What the shipping app (mattermost-mobile's nativeEntraLogin) sends, read
// from its public source: every request carries X-Requested-With and its
// User-Agent; the sign-in adds a JSON body and asks for JSON.
const (
	// AppUserAgent is a User-Agent in the app's format:
	// "Mattermost Mobile/<version>+<build> (<os>; <os version>; <model>)".
	AppUserAgent = "Mattermost Mobile/2.31.0+654 (iOS; 18.1; iPhone 15 Pro)"
	// AppDeviceID is a device_id in the app's format: "apple_rn-v2:" and the
	// device's push token.
	AppDeviceID = "apple_rn-v2:5d8f0c3b9a7e4f21"
)

// AppLogin is the body the shipping app posts to sign in; Request posts it
// with the app's headers (see the example):
//
//	resp, err := http.DefaultClient.Do(intunetest.NewAppLogin(token).Request(ctx, srv.URL+"/oauth/intune"))
//	...
//	e, err := intunetest.DecodeAppError(body) // a failure: e.ID, e.StatusCode, e.Message
type AppLogin struct {
	DeviceID     string `json:"device_id"`
	VoIPDeviceID string `json:"voip_device_id"`
	AccessToken  string `json:"access_token"`
}

// NewAppLogin is the body the app posts for token: AppDeviceID, and an empty
// voip_device_id (the app sends one only with VoIP push set up).
func NewAppLogin(token string) AppLogin {
	return AppLogin{DeviceID: AppDeviceID, AccessToken: token}
}

// JSON is the body as the app sends it, every member present.
func (b AppLogin) JSON() string {
	out, err := json.Marshal(b)
	if err != nil {
		panic("intunetest: " + err.Error()) // three strings always marshal
	}
	return string(out)
}

// Request is a POST of b to url with the app's headers: Content-Type and
// Accept application/json, X-Requested-With: XMLHttpRequest, Cache-Control:
// no-store and AppUserAgent. It is a client request: send it with an
// http.Client to a server, or hand it to a handler's ServeHTTP (url may
// then be a path). Like httptest.NewRequest, it panics on a url that does
// not parse, which can only be a broken test.
func (b AppLogin) Request(ctx context.Context, url string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(b.JSON()))
	if err != nil {
		panic("intunetest: " + err.Error())
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("X-Requested-With", "XMLHttpRequest")
	h.Set("Cache-Control", "no-store")
	h.Set("User-Agent", AppUserAgent)
	return req
}

// AppErrorBody is the app_error JSON a failed sign-in answers, the shape
// the app reads (it shows Message and branches on ID and StatusCode).
type AppErrorBody struct {
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id"`
	StatusCode    int    `json:"status_code"`
}

// DecodeAppError reads an app_error body as the app does: member names
// exactly as written (not in another case), each at most once. It fails on
// anything else: not one JSON object, a member of the wrong type, no id or
// status_code (a success's user JSON, a proxy's error page), or a message
// that is not a string (the app shows it).
func DecodeAppError(body []byte) (AppErrorBody, error) {
	// Pointers tell a null or absent member from a present one; v2's
	// defaults match names exactly and refuse duplicate names.
	var wire struct {
		ID            *string `json:"id"`
		Message       *string `json:"message"`
		DetailedError string  `json:"detailed_error"`
		RequestID     string  `json:"request_id"`
		StatusCode    *int    `json:"status_code"`
	}
	if err := jsonv2.Unmarshal(body, &wire); err != nil {
		return AppErrorBody{}, fmt.Errorf("intunetest: not an app_error body: %w", err)
	}
	if wire.ID == nil || *wire.ID == "" || wire.StatusCode == nil || *wire.StatusCode == 0 {
		return AppErrorBody{}, errors.New("intunetest: not an app_error body: no id or status_code")
	}
	if wire.Message == nil {
		return AppErrorBody{}, errors.New("intunetest: not an app_error body: message is not a string")
	}
	return AppErrorBody{ID: *wire.ID, Message: *wire.Message, DetailedError: wire.DetailedError,
		RequestID: wire.RequestID, StatusCode: *wire.StatusCode}, nil
}
