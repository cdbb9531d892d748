package api

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// The reference documentation is rendered on the server from the OpenAPI
// document: no third-party scripts, so it works offline and under a strict
// Content-Security-Policy.

type docsOperation struct {
	ID, Method, Path, Summary, Description, Permission string
	Params                                             []docsParam
	Body                                               string
	Responses                                          []docsResponse
}

type docsParam struct{ Name, In, Type, Description string }

type docsResponse struct{ Status, Description string }

type docsTag struct {
	Name       string
	Operations []docsOperation
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2433}
nav{width:260px;padding:1rem;background:#f4f5f7;height:100vh;overflow:auto;position:sticky;top:0;flex:none}
nav a{display:block;color:#1d2433;text-decoration:none;font-size:13px;padding:2px 0}
main{padding:1rem 2rem;max-width:980px}
.op{border:1px solid #d8dce3;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.m{font:600 12px monospace;padding:2px 6px;border-radius:3px;color:#fff;background:#4a5568}
.GET{background:#2b6cb0}.POST{background:#2f855a}.PUT{background:#b7791f}.PATCH{background:#b7791f}.DELETE{background:#c53030}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f5f7;padding:.5rem;overflow:auto}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e2e5ea;padding:2px 8px;text-align:left;vertical-align:top}
.perm{font-size:13px;color:#553c9a}
</style></head><body>
<nav><strong>{{.Title}}</strong><div>{{.Version}}</div><p><a href="/openapi.json">openapi.json</a><a href="/openapi.yaml">openapi.yaml</a></p>
{{range .Tags}}<p><strong>{{.Name}}</strong>{{range .Operations}}<a href="#{{.ID}}">{{.Method}} {{.Path}}</a>{{end}}</p>{{end}}</nav>
<main><h1>{{.Title}}</h1><p style="white-space:pre-line">{{.Description}}</p>
{{range .Tags}}<h2>{{.Name}}</h2>{{range .Operations}}
<section class="op" id="{{.ID}}"><h3><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}</h3>
<div class="perm">Permission: <code>{{.Permission}}</code></div>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Params}}<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<h4>Request body</h4><pre>{{.Body}}</pre>{{end}}
<h4>Responses</h4><table>{{range .Responses}}<tr><td><code>{{.Status}}</code></td><td>{{.Description}}</td></tr>{{end}}</table>
</section>{{end}}{{end}}</main></body></html>`))

func (s *Server) serveDocs(w http.ResponseWriter, _ *http.Request) {
	s.docsOnce.Do(func() { s.docsHTML = renderDocs(s.OpenAPI()) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_, _ = w.Write(s.docsHTML)
}

func renderDocs(doc *huma.OpenAPI) []byte {
	tags := map[string]*docsTag{}
	var order []string
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		item := doc.Paths[p]
		for _, mo := range []struct {
			m  string
			op *huma.Operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"PATCH", item.Patch}, {"DELETE", item.Delete}} {
			if mo.op == nil || mo.op.Hidden {
				continue
			}
			op := mo.op
			d := docsOperation{ID: op.OperationID, Method: mo.m, Path: p, Summary: op.Summary, Description: op.Description}
			d.Permission, _ = op.Extensions[extPermission].(string)
			for _, prm := range op.Parameters {
				typ := ""
				if prm.Schema != nil {
					typ = prm.Schema.Type
				}
				d.Params = append(d.Params, docsParam{prm.Name, prm.In, typ, prm.Description})
			}
			if op.RequestBody != nil {
				if c := op.RequestBody.Content["application/json"]; c != nil && c.Schema != nil {
					d.Body = schemaJSON(doc, c.Schema)
				}
			}
			codes := make([]string, 0, len(op.Responses))
			for c := range op.Responses {
				codes = append(codes, c)
			}
			sort.Strings(codes)
			for _, c := range codes {
				d.Responses = append(d.Responses, docsResponse{c, op.Responses[c].Description})
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			if tags[tag] == nil {
				tags[tag] = &docsTag{Name: tag}
				order = append(order, tag)
			}
			tags[tag].Operations = append(tags[tag].Operations, d)
		}
	}
	data := struct {
		Title, Version, Description string
		Tags                        []*docsTag
	}{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	for _, t := range order {
		data.Tags = append(data.Tags, tags[t])
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, data); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// schemaJSON shows a request schema, following one level of $ref.
func schemaJSON(doc *huma.OpenAPI, s *huma.Schema) string {
	if s.Ref != "" && doc.Components != nil && doc.Components.Schemas != nil {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		if resolved := doc.Components.Schemas.Map()[name]; resolved != nil {
			s = resolved
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}
