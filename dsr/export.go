package dsr

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
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

// progressEvery is how many records an export writes between two calls of
// its progress function.
const progressEvery = 2000

// csvHeader is the first line of every records-<kind>.csv.
const csvHeader = "id,kind,conversation_id,category,purpose,region,created_at,content\n"

// BuildExport writes the ZIP of a subject's records to w: records.json,
// the machine-readable export (GDPR Art. 20, records.ExportFormat); one CSV
// per record kind (records-<kind>.csv: metadata columns and the content as
// JSON text, or as the text itself when the content is a JSON string); and
// summary.txt, a human-readable summary in lang (nl or en).
//
// The records are read and decrypted once (one data key, unwrapped once):
// records.json is compressed while it streams from the database, in a
// goroutine beside the one that reads, decrypts and formats the CSV rows.
// progress, when not nil, is called with the number of records written
// every progressEvery records.
func BuildExport(ctx context.Context, rec *records.Store, tenantID, subjectID, lang string, now time.Time, w io.Writer, progress func(done int)) (ExportStats, error) {
	e, err := rec.OpenExportOf(ctx, tenantID, subjectID)
	if err != nil {
		return ExportStats{}, err
	}
	defer e.Close()
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) { return flate.NewWriter(out, flate.BestSpeed) })
	doc, err := zw.CreateHeader(&zip.FileHeader{Name: "records.json", Method: zip.Deflate, Modified: now})
	if err != nil {
		return ExportStats{}, err
	}
	aw := newAsyncWriter(doc)
	csvs := map[string]*deflated{}
	counts := map[string]int{}
	done := 0
	st, err := e.WriteEach(ctx, func() io.Writer { return aw }, func(r *records.ExportRow) error {
		c := csvs[r.Kind]
		if c == nil {
			c = newDeflated()
			c.pending = append(c.pending, csvHeader...)
			csvs[r.Kind] = c
		}
		c.pending = appendCSVRow(c.pending, r)
		if len(c.pending) >= 32<<10 {
			if _, err := c.w.Write(c.pending); err != nil {
				return err
			}
			c.pending = c.pending[:0]
		}
		counts[r.Kind]++
		if done++; progress != nil && done%progressEvery == 0 {
			progress(done)
		}
		return nil
	})
	if werr := aw.Close(); err == nil {
		err = werr
	}
	if err != nil {
		for _, c := range csvs {
			_ = c.close()
		}
		return ExportStats{}, err
	}
	kinds := make([]string, 0, len(csvs))
	for k := range csvs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if err := csvs[k].close(); err != nil {
			return ExportStats{}, err
		}
		if err := csvs[k].add(zw, "records-"+k+".csv", now); err != nil {
			return ExportStats{}, err
		}
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "summary.txt", Method: zip.Deflate, Modified: now})
	if err != nil {
		return ExportStats{}, err
	}
	if _, err := io.WriteString(f, summary(lang, subjectID, now, counts)); err != nil {
		return ExportStats{}, err
	}
	return ExportStats{Records: st.Records}, zw.Close()
}

// appendCSVRow appends one record as a CSV line (RFC 4180, as
// encoding/csv writes it) to b.
func appendCSVRow(b []byte, r *records.ExportRow) []byte {
	for _, f := range [...]string{r.ID, r.Kind, r.ConversationID, r.Category, r.Purpose, r.Region} {
		b = appendCSVField(b, f)
		b = append(b, ',')
	}
	b = r.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ',')
	content := r.Content
	if len(content) > 0 && content[0] == '"' {
		var s string
		if json.Unmarshal(content, &s) == nil {
			content = []byte(s)
		}
	}
	if len(content) > 0 && strings.IndexByte("=+-@\t\r", content[0]) >= 0 {
		// Keeps a spreadsheet from reading the cell as a formula.
		content = append([]byte{'\''}, content...)
	}
	b = appendCSVField(b, string(content))
	return append(b, '\n')
}

// appendCSVField appends one field, quoted when it holds a comma, a quote,
// a line break or leading white space.
func appendCSVField(b []byte, f string) []byte {
	if f == "" || (!strings.ContainsAny(f, ",\"\r\n") && f[0] != ' ' && f[0] != '\t') {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

// asyncWriter hands what is written to a goroutine that writes it on, so
// the compression of records.json runs beside the reading and decryption
// of the records. Close waits for the goroutine and returns its error.
type asyncWriter struct {
	ch   chan []byte
	free chan []byte
	done chan error
	err  error
	// end, when set, runs in the goroutine after the last write.
	end func() error
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{ch: make(chan []byte, 4), free: make(chan []byte, 5), done: make(chan error, 1)}
	go func() {
		var err error
		for p := range a.ch {
			if err == nil {
				_, err = w.Write(p)
			}
			select {
			case a.free <- p[:0]:
			default:
			}
		}
		if err == nil && a.end != nil {
			err = a.end()
		}
		a.done <- err
	}()
	return a
}

// Write copies p (the caller may reuse it) and queues it.
func (a *asyncWriter) Write(p []byte) (int, error) {
	var c []byte
	select {
	case c = <-a.free:
	default:
	}
	a.ch <- append(c, p...)
	return len(p), nil
}

// Close ends the goroutine; it returns the first error of the writes.
func (a *asyncWriter) Close() error {
	if a.ch != nil {
		close(a.ch)
		a.err = <-a.done
		a.ch = nil
	}
	return a.err
}

// deflated is a ZIP entry compressed beside the export's other work (a
// goroutine of its own), added to the archive whole once the records are
// read.
type deflated struct {
	// pending is written to w in pieces of about 32 KiB.
	pending []byte
	w       *asyncWriter
	out     bytes.Buffer
	crc     hash.Hash32
	size    uint64
	closed  bool
	err     error
}

func newDeflated() *deflated {
	d := &deflated{crc: crc32.NewIEEE()}
	fw, _ := flate.NewWriter(&d.out, flate.BestSpeed) // BestSpeed is a valid level
	d.w = newAsyncWriter(writerFunc(func(p []byte) (int, error) {
		d.crc.Write(p)
		d.size += uint64(len(p))
		return fw.Write(p)
	}))
	d.w.end = fw.Close
	return d
}

// close waits for the compression to end.
func (d *deflated) close() error {
	if !d.closed {
		_, _ = d.w.Write(d.pending)
		d.closed, d.err = true, d.w.Close()
	}
	return d.err
}

// add writes the compressed entry to zw as name.
func (d *deflated) add(zw *zip.Writer, name string, modified time.Time) error {
	f, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified, CRC32: d.crc.Sum32(),
		CompressedSize64: uint64(d.out.Len()), UncompressedSize64: d.size})
	if err != nil {
		return err
	}
	_, err = f.Write(d.out.Bytes())
	return err
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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
