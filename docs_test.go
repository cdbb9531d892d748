package verwerker_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// markdownFiles are the documents a clone of the repository reads: the
// README and everything in docs/.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"README.md"}, files...)
}

var (
	fenceRe    = regexp.MustCompile("(?ms)^[ \t]*```.*?^[ \t]*```[ \t]*$")
	codeSpanRe = regexp.MustCompile("`([^`\n]+)`")
	linkRe     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	headingRe  = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$`)
	// repoPathRe matches code spans that name a file of the repository,
	// such as `deploy/audit-verify.sh` or `policy/rego/decision.rego`.
	repoPathRe = regexp.MustCompile(`^(\.\./)*[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+\.(md|go|sh|rego|conf|hcl|yaml|yml|sql|mod)$`)
)

// slugs are the anchors GitHub gives the headings of a Markdown text:
// lowercase, punctuation other than '-' and '_' dropped, spaces as '-',
// repeated headings numbered -1, -2, ...
func slugs(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRe.FindAllStringSubmatch(fenceRe.ReplaceAllString(text, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		s := b.String()
		if n := seen[s]; n > 0 {
			seen[s]++
			s = s + "-" + string(rune('0'+n))
		} else {
			seen[s] = 1
		}
		out[s] = true
	}
	return out
}

// insideRepo reports whether path, relative to the repository root, stays
// inside it: a clone has nothing outside.
func insideRepo(path string) bool {
	clean := filepath.Clean(path)
	return clean != ".." && !strings.HasPrefix(clean, "../") && !filepath.IsAbs(clean)
}

// TestDocumentationLinksResolve: every relative link and anchor in
// README.md and docs/*.md points at a file of the repository and a heading
// that exists, every file path named in code exists, and every document in
// docs/ is linked from the README, so a clone's documentation stays true.
func TestDocumentationLinksResolve(t *testing.T) {
	texts := map[string]string{}
	for _, f := range markdownFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	anchors := func(file string) map[string]bool {
		text, ok := texts[file]
		if !ok {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil
			}
			text = string(b)
		}
		return slugs(text)
	}
	linkedFromReadme := map[string]bool{}
	for file, text := range texts {
		prose := fenceRe.ReplaceAllString(text, "")
		for _, m := range codeSpanRe.FindAllStringSubmatch(prose, -1) {
			if !repoPathRe.MatchString(m[1]) {
				continue
			}
			if !insideRepo(m[1]) {
				t.Errorf("%s: `%s` is outside the repository", file, m[1])
			} else if _, err := os.Stat(m[1]); err != nil {
				t.Errorf("%s: `%s` names no file of the repository", file, m[1])
			}
		}
		prose = codeSpanRe.ReplaceAllString(prose, "code")
		for _, m := range linkRe.FindAllStringSubmatch(prose, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
				if !insideRepo(dest) {
					t.Errorf("%s: link %s leaves the repository", file, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %s: no such file", file, target)
					continue
				}
			}
			if file == "README.md" {
				linkedFromReadme[filepath.ToSlash(dest)] = true
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %s: an anchor in a file that is not Markdown", file, target)
			} else if !anchors(dest)[anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", file, target, dest, anchor)
			}
		}
	}
	for file := range texts {
		if file != "README.md" && !linkedFromReadme[filepath.ToSlash(file)] {
			t.Errorf("%s is not linked from README.md", file)
		}
	}
}

// TestSlugs pins the anchor rules the link check relies on.
func TestSlugs(t *testing.T) {
	s := slugs("# Keys and Vault\n## `make run`\n## Compiled, with Rego as the source of truth\n```\n# not a heading\n```\n## Notes\n## Notes\n")
	for _, want := range []string{"keys-and-vault", "make-run", "compiled-with-rego-as-the-source-of-truth", "notes", "notes-1"} {
		if !s[want] {
			t.Errorf("no slug %q in %v", want, s)
		}
	}
	if s["not-a-heading"] {
		t.Error("a line in a code block is no heading")
	}
}
