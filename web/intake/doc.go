// Package intake serves the public page where a data subject files a
// request (GDPR Art. 12, 15-22; seed 001 art. 12.14) in Dutch or English:
// plain HTML forms, no JavaScript, a strict Content-Security-Policy, and a
// per-form token (double-submit cookie) besides the server's cross-origin
// protection. It is a thin front on package dsr: the checks, the
// verification code, the rate limits and the forwarding are dsr's.
package intake
