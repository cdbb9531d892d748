package deadline_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	d, err := deadline.ParseDate("2024-02-29")
	require.NoError(t, err)
	require.Equal(t, deadline.Date{Year: 2024, Month: time.February, Day: 29}, d)
	require.Equal(t, "2024-02-29", d.String())
	for _, s := range []string{"", "2025-02-29", "2025-13-01", "2025-4-01", "2025-04-1", "01-04-2025", "2025-04-01T00:00:00Z", " 2025-04-01"} {
		_, err := deadline.ParseDate(s)
		require.Error(t, err, "%q", s)
	}
	// The error does not repeat the input: it may reach an API caller.
	for _, s := range []string{"2026-02-30T4711", "4711-02-30", "secret-person-4711"} {
		_, err := deadline.ParseDate(s)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "4711")
		var d deadline.Date
		err = d.UnmarshalText([]byte(s))
		require.Error(t, err)
		require.NotContains(t, err.Error(), "4711")
	}
}

func TestDateJSON(t *testing.T) {
	t.Parallel()
	d := deadline.Date{Year: 2026, Month: time.March, Day: 2}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.Equal(t, `"2026-03-02"`, string(b))
	var back deadline.Date
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, d, back)
	require.Error(t, json.Unmarshal([]byte(`"2026-02-30"`), &back))
	require.Equal(t, "0007-01-09", deadline.Date{Year: 7, Month: 1, Day: 9}.String())
}

func TestDateArithmetic(t *testing.T) {
	t.Parallel()
	d := deadline.Date{Year: 2024, Month: time.February, Day: 28}
	require.Equal(t, "2024-02-29", d.AddDays(1).String())
	require.Equal(t, "2024-03-01", d.AddDays(2).String())
	require.Equal(t, "2023-12-31", d.AddDays(-59).String())
	require.Equal(t, time.Wednesday, d.Weekday())

	later := deadline.Date{Year: 2024, Month: time.March, Day: 1}
	require.Equal(t, -1, d.Compare(later))
	require.Equal(t, 1, later.Compare(d))
	require.Equal(t, 0, d.Compare(d))
	require.True(t, d.Before(later))
	require.True(t, later.After(d))
	// 30 February 2024 is normalized to 1 March 2024.
	require.Equal(t, 0, later.Compare(deadline.Date{Year: 2024, Month: time.February, Day: 30}))

	require.Equal(t, d, deadline.DateOf(time.Date(2024, 2, 28, 23, 59, 0, 0, time.UTC)))
	ams, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	require.Equal(t, "2024-02-29", deadline.DateOf(time.Date(2024, 2, 28, 23, 30, 0, 0, time.UTC).In(ams)).String())
	require.Equal(t, "2024-02-28T00:00:00+01:00", d.In(ams).Format(time.RFC3339))
}
