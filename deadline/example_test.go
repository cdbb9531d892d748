package deadline_test

import (
	"fmt"
	"time"

	"github.com/verwerker/verwerker/deadline"
)

// A data-subject request received on Saturday 31 January 2026 must be
// answered within one month (GDPR Art. 12(3)). February has no 31st, so the
// month ends on Saturday 28 February, and the deadline moves to the end of
// Monday 2 March.
func ExampleCalendar_Deadline() {
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	received := time.Date(2026, 1, 31, 15, 4, 0, 0, ams)

	d := deadline.DefaultCalendar().Deadline(received, deadline.Months(1))
	fmt.Println("respond by the end of", d.LastDay)
	fmt.Println("late from", d.Due.Format(time.RFC3339))
	fmt.Println("moved from", d.NominalLastDay, d.Extended)

	ext := deadline.DefaultCalendar().Deadline(received, deadline.Period{Months: 3})
	fmt.Println("extended by two months:", ext.LastDay)
	// Output:
	// respond by the end of 2026-03-02
	// late from 2026-03-03T00:00:00+01:00
	// moved from 2026-02-28 true
	// extended by two months: 2026-04-30
}

func ExampleParsePeriod() {
	p, err := deadline.ParsePeriod("30d")
	if err != nil {
		panic(err)
	}
	end := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC) // end of the services
	fmt.Println(p, deadline.DefaultCalendar().Deadline(end, p).LastDay)
	// Output: 30d 2026-07-30
}

func ExampleCalendar_Holidays() {
	for _, h := range deadline.DefaultCalendar().Holidays(2027) {
		fmt.Println(h.Date, h.Date.Weekday(), h.LocalName)
	}
	// Output:
	// 2027-01-01 Friday Nieuwjaarsdag
	// 2027-03-26 Friday Goede Vrijdag
	// 2027-03-29 Monday Tweede paasdag
	// 2027-04-27 Tuesday Koningsdag
	// 2027-05-05 Wednesday Bevrijdingsdag
	// 2027-05-06 Thursday Hemelvaartsdag
	// 2027-05-07 Friday Met een algemeen erkende feestdag gelijkgestelde dag
	// 2027-05-17 Monday Tweede pinksterdag
	// 2027-12-25 Saturday Eerste kerstdag
	// 2027-12-26 Sunday Tweede kerstdag
}
