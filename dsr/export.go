package dsr

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/verwerker/verwerker/records"
)

// ExportStats describes a built export.
type ExportStats struct {
	Records int
	Bytes   int
}

// BuildExport writes the ZIP of a subject's records to w: records.json,
// the machine-readable export (GDPR Art. 20, records.ExportFormat); one CSV
// per record kind (records-<kind>.csv: metadata columns and the content as
// JSON text); and summary.txt, a human-readable summary in lang (nl or en).
func BuildExport(ctx context.Context, rec *records.Store, tenantID, subjectID, lang string, now time.Time, w io.Writer) (ExportStats, error) {
	e, err := rec.OpenExportOf(ctx, tenantID, subjectID)
	if err != nil {
		return ExportStats{}, err
	}
	defer e.Close()
	var doc bytes.Buffer
	st, err := e.WriteTo(ctx, func() io.Writer { return &doc })
	if err != nil {
		return ExportStats{}, err
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) { return flate.NewWriter(out, flate.BestSpeed) })
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "records.json", Method: zip.Deflate, Modified: now})
	if err != nil {
		return ExportStats{}, err
	}
	if _, err := f.Write(doc.Bytes()); err != nil {
		return ExportStats{}, err
	}
	counts, err := writeCSVs(zw, doc.Bytes(), now)
	if err != nil {
		return ExportStats{}, err
	}
	f, err = zw.CreateHeader(&zip.FileHeader{Name: "summary.txt", Method: zip.Deflate, Modified: now})
	if err != nil {
		return ExportStats{}, err
	}
	if _, err := io.WriteString(f, summary(lang, subjectID, now, counts)); err != nil {
		return ExportStats{}, err
	}
	return ExportStats{Records: st.Records}, zw.Close()
}

// exportRecord is one record of records.json as the CSVs show it.
type exportRecord struct {
	ID             string          `json:"id"`
	Kind           string          `json:"kind"`
	ConversationID string          `json:"conversation_id"`
	Category       string          `json:"category"`
	Purpose        string          `json:"purpose"`
	Region         string          `json:"region"`
	CreatedAt      string          `json:"created_at"`
	Content        json.RawMessage `json:"content"`
}

// writeCSVs adds one CSV per kind, in the order of records.json.
func writeCSVs(zw *zip.Writer, doc []byte, now time.Time) (map[string]int, error) {
	var parsed struct {
		Records []exportRecord `json:"records"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		return nil, fmt.Errorf("dsr: export: %w", err)
	}
	byKind := map[string][]exportRecord{}
	for _, r := range parsed.Records {
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	counts := map[string]int{}
	for _, k := range kinds {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: "records-" + k + ".csv", Method: zip.Deflate, Modified: now})
		if err != nil {
			return nil, err
		}
		cw := csv.NewWriter(f)
		_ = cw.Write([]string{"id", "kind", "conversation_id", "category", "purpose", "region", "created_at", "content"})
		for _, r := range byKind[k] {
			content := string(r.Content)
			var s string
			if json.Unmarshal(r.Content, &s) == nil {
				content = s
			}
			_ = cw.Write([]string{r.ID, r.Kind, r.ConversationID, r.Category, r.Purpose, r.Region, r.CreatedAt, csvSafe(content)})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return nil, err
		}
		counts[k] = len(byKind[k])
	}
	return counts, nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func summary(lang, subjectID string, now time.Time, counts map[string]int) string {
	var b strings.Builder
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if lang == "nl" {
		fmt.Fprintf(&b, "Overzicht van uw gegevens\n\nDit archief bevat alle gegevens die verwerker, als verwerker voor de organisatie waarmee u chatte, over u bewaart (AVG art. 15 en 20).\nBetrokkene (pseudoniem): %s\nSamengesteld op: %s\n\n", subjectID, now.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "Bestanden:\n  records.json      alle gegevens, machineleesbaar (JSON)\n  records-<soort>.csv  dezelfde gegevens per soort, voor een spreadsheet\n\nAantallen per soort:\n")
	} else {
		fmt.Fprintf(&b, "Summary of your data\n\nThis archive holds all data verwerker keeps about you as the processor of the organisation you chatted with (GDPR Art. 15 and 20).\nSubject (pseudonymous): %s\nCompiled: %s\n\n", subjectID, now.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "Files:\n  records.json      all data, machine-readable (JSON)\n  records-<kind>.csv   the same data per kind, for a spreadsheet\n\nRecords per kind:\n")
	}
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-20s %d\n", k, counts[k])
	}
	return b.String()
}
