package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// Charts are hand-written SVG, drawn on the server: no script, no third
// party, styles as presentation attributes (allowed by the CSP). Each chart
// has a title and a text alternative (Rows) shown as a table next to it.

// series is one stack of bars.
type series struct {
	Name   string
	Color  string
	Values []uint64
}

// chart is a rendered chart with its text alternative.
type chart struct {
	ID      string
	Title   string
	SVG     template.HTML
	Labels  []string
	Series  []series
	Empty   bool
	Summary string
}

// Colours with at least 3:1 contrast on white (WCAG 1.4.11).
const (
	colorGreen = "#1e6b35"
	colorRed   = "#b3261e"
	colorBlue  = "#1d4e89"
	colorAmber = "#8a5a00"
)

// stackedBars draws one bar per label with the series stacked, and a
// short axis: the chart for counts per day.
func stackedBars(id, title string, labels []string, ss []series) chart {
	c := chart{ID: id, Title: title, Labels: labels, Series: ss}
	var max uint64
	var total uint64
	for i := range labels {
		var sum uint64
		for _, s := range ss {
			sum += s.Values[i]
		}
		total += sum
		if sum > max {
			max = sum
		}
	}
	if total == 0 {
		c.Empty = true
		return c
	}
	const w, h, left, bottom, top = 640.0, 200.0, 40.0, 24.0, 10.0
	n := float64(len(labels))
	bw := (w - left - 10) / n
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t %s-d" width="%.0f" height="%.0f">`, w, h, id, id, w, h)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(summaryText(labels, ss)))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#767676"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" text-anchor="end" fill="#333">%d</text>`, left-4, top+8, max)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" text-anchor="end" fill="#333">0</text>`, left-4, h-bottom)
	scale := (h - bottom - top) / float64(max)
	for i, l := range labels {
		x := left + float64(i)*bw
		y := h - bottom
		for _, s := range ss {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			bh := float64(v) * scale
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x+1, y, max1(bw-2, 1), bh, s.Color, html.EscapeString(l), html.EscapeString(s.Name), v)
		}
		if len(labels) <= 12 || i%(len(labels)/6) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle" fill="#333">%s</text>`, x+bw/2, h-8, html.EscapeString(l))
		}
	}
	b.WriteString(`</svg>`)
	c.SVG = template.HTML(b.String()) //nolint:gosec // every text is escaped above
	c.Summary = summaryText(labels, ss)
	return c
}

// summaryText is the chart in one sentence: the totals per series.
func summaryText(labels []string, ss []series) string {
	parts := make([]string, 0, len(ss))
	for _, s := range ss {
		var sum uint64
		for _, v := range s.Values {
			sum += v
		}
		parts = append(parts, fmt.Sprintf("%s %d", s.Name, sum))
	}
	span := ""
	if len(labels) > 0 {
		span = labels[0] + " – " + labels[len(labels)-1] + ": "
	}
	return span + strings.Join(parts, ", ")
}

func max1(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// durationBar is one bar of a lineBars chart: a duration, red when Late.
type durationBar struct {
	Label string
	Value time.Duration
	Late  bool
}

// lineBars draws one horizontal bar per duration against a limit drawn as
// a dashed line (the breach notices' 48 hours): the chart for how long
// things took. Its text alternative is summary and every bar in hours.
func lineBars(id, title, lineName, summary string, bars []durationBar, limit time.Duration) chart {
	onTime := series{Name: "≤ " + lineName, Color: colorBlue}
	late := series{Name: "> " + lineName, Color: colorRed}
	c := chart{ID: id, Title: title, Series: []series{onTime, late}}
	if len(bars) == 0 {
		c.Empty = true
		return c
	}
	max := limit + limit/4
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	const w, left, right, row, top = 640.0, 190.0, 20.0, 18.0, 10.0
	h := top + float64(len(bars))*row + 24
	scale := (w - left - right) / max.Hours()
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t %s-d" width="%.0f" height="%.0f">`, w, h, id, id, w, h)
	fmt.Fprintf(&sb, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(summary))
	for i, b := range bars {
		y := top + float64(i)*row
		color := colorBlue
		if b.Late {
			color = colorRed
		}
		fmt.Fprintf(&sb, `<text x="%.0f" y="%.1f" font-size="11" text-anchor="end" fill="#333">%s</text>`, left-6, y+row-6, html.EscapeString(b.Label))
		fmt.Fprintf(&sb, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.1f h</title></rect>`,
			left, y+2, max1(b.Value.Hours()*scale, 1), row-4, color, html.EscapeString(b.Label), b.Value.Hours())
	}
	x := left + limit.Hours()*scale
	bottom := top + float64(len(bars))*row
	fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.1f" stroke="#b3261e" stroke-width="2" stroke-dasharray="6 4"/>`, x, top, x, bottom)
	fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#b3261e">%s</text>`, x, bottom+16, html.EscapeString(lineName))
	sb.WriteString(`</svg>`)
	c.SVG = template.HTML(sb.String()) //nolint:gosec // every text is escaped above
	c.Summary = summary
	c.Labels = make([]string, len(bars))
	c.Series[0].Values = make([]uint64, len(bars))
	c.Series[1].Values = make([]uint64, len(bars))
	for i, b := range bars {
		c.Labels[i] = b.Label
		if b.Late {
			c.Series[1].Values[i] = uint64(b.Value.Hours())
		} else {
			c.Series[0].Values[i] = uint64(b.Value.Hours())
		}
	}
	return c
}
