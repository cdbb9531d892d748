// Package web is the DPO dashboard in the browser: server-rendered HTML
// (html/template), embedded assets, server-side SVG charts, no JavaScript
// framework and a strict Content-Security-Policy.
//
// It is thin like package api: it signs people in with the same sessions
// (password and TOTP, identity.People), checks the same permissions
// (policy.Authorizer, deny by default, another customer's page is a 404),
// writes the same audit events and calls the same domain services. Each page
// lives in a file of its own and declares its permission next to it (Page);
// docs/dashboard.md explains how to add one.
//
// GDPR articles it serves: 5(2) and 24 (accountability: the DPO sees what
// needs action), 28(2)/(4) (subprocessor changes and objections), 28(3)(h)
// and 30(2) (audit trail and the record of processing), 32 (access limited
// to authorised people with a second factor, 000 art. 9.1), 38-39 (the
// DPO's monitoring tasks).
package web
