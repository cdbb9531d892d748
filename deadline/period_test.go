package deadline_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
)

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]deadline.Period{
		"30d":     deadline.Days(30),
		"1m":      deadline.Months(1),
		"3m":      deadline.Months(3),
		"7y":      deadline.Years(7),
		"1y6m":    {Years: 1, Months: 6},
		"1m15d":   {Months: 1, Days: 15},
		"2y1m3d":  {Years: 2, Months: 1, Days: 3},
		"0d":      {},
		"100000d": deadline.Days(100000),
	} {
		got, err := deadline.ParsePeriod(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
		require.Equal(t, s, got.String(), "round trip")
	}
	// Forms that parse but print differently.
	for s, want := range map[string]string{"030d": "30d", "0y1m": "1m", "0y0m0d": "0d", "12m": "12m"} {
		got, err := deadline.ParsePeriod(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got.String(), s)
	}
}

func TestParsePeriodRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", " ", "d", "30", "30 d", " 30d", "30d ", "30D", "1M", "30x", "30h", "2w",
		"-1d", "+1d", "1.5m", "1,5m", "1m1m", "1d1m", "1m1y", "d30", "30dd", "1y 6m",
		"100001d", "99999999999999999999d", "3O d", "٣d", "P1M",
	} {
		_, err := deadline.ParsePeriod(s)
		require.Error(t, err, "%q", s)
	}
}

func TestPeriodString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "0d", deadline.Period{}.String())
	require.Equal(t, "1y2m3d", deadline.Period{Days: 3, Months: 2, Years: 1}.String())
	require.Equal(t, "-3d", deadline.Days(-3).String())
}

func TestPeriodText(t *testing.T) {
	t.Parallel()
	type config struct {
		Deletion  deadline.Period `json:"deletion"`
		Retention deadline.Period `json:"retention"`
	}
	var c config
	require.NoError(t, json.Unmarshal([]byte(`{"deletion":"30d","retention":"7y"}`), &c))
	require.Equal(t, config{Deletion: deadline.Days(30), Retention: deadline.Years(7)}, c)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, `{"deletion":"30d","retention":"7y"}`, string(b))

	require.Error(t, json.Unmarshal([]byte(`{"deletion":"thirty days"}`), &c))
	require.Error(t, json.Unmarshal([]byte(`{"deletion":{"Days":30}}`), &c))
	_, err = json.Marshal(config{Deletion: deadline.Days(-1)})
	require.Error(t, err)
}
