package web

import (
	"html/template"
	"io/fs"
	"strings"
)

// parseTemplates parses each page template with the layout. A template
// that does not parse is a programming error: New panics at start-up.
func parseTemplates() map[string]*template.Template {
	out := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "chart" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/chart.html", n))
	}
	return out
}
