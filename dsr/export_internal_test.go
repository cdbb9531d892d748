package dsr

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/records"
)

// TestCSVRowMatchesEncodingCSV: the export's own CSV encoder writes what
// encoding/csv writes for the same fields (differential test), and reads
// back through encoding/csv to the same values.
func TestCSVRowMatchesEncodingCSV(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 123, time.UTC)
	contents := []string{`{"text":"hallo"}`, `{"text":"a, \"b\"\nc"}`, `"plain text, with \"quotes\"\r\nand lines"`, `"=SUM(A1)"`, `"-1"`, `" leading"`, `"\ttab"`, `""`, `42`}
	for _, c := range contents {
		r := records.ExportRow{ID: "rec_1", Kind: "chat.message", ConversationID: "conv,1", Category: "chat.message", Purpose: "service.delivery",
			Region: " nl", CreatedAt: at, Content: []byte(c)}
		got := appendCSVRow(nil, &r)

		content := c
		var s string
		if json.Unmarshal([]byte(c), &s) == nil {
			content = s
		}
		if content != "" && bytes.IndexByte([]byte("=+-@\t\r"), content[0]) >= 0 {
			content = "'" + content
		}
		fields := []string{r.ID, r.Kind, r.ConversationID, r.Category, r.Purpose, r.Region, at.Format(time.RFC3339Nano), content}
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		require.NoError(t, cw.Write(fields))
		cw.Flush()
		require.Equal(t, want.String(), string(got), c)
		back, err := csv.NewReader(bytes.NewReader(got)).Read()
		require.NoError(t, err)
		for i := range fields {
			fields[i] = strings.ReplaceAll(fields[i], "\r\n", "\n") // as encoding/csv reads a quoted line break
		}
		require.Equal(t, fields, back)
	}
}
