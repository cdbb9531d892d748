// Package deadline computes legal deadlines the way EU law computes them, for
// a processor established in the Netherlands.
//
// It serves these parts of the GDPR:
//
//   - Art. 12(3): information on action taken on a data-subject request is
//     due without undue delay and in any event within one month of receipt
//     (Months(1) from the receipt), extendable by two further months where
//     necessary; the extended deadline can be computed as Period{Months: 3}
//     from the receipt.
//   - Art. 28(3)(g): deleting or returning the personal data after the end of
//     the provision of services; the company's terms allow 30 days, Days(30)
//     from the end of the services.
//   - Art. 5(1)(e): retention periods such as "7y", parsed with ParsePeriod.
//
// # Rules
//
// Periods follow Article 3 of Regulation (EEC, Euratom) No 1182/71
// determining the rules applicable to periods, dates and time limits:
//
//   - Art. 3(1): the day during which the event occurs does not count, so a
//     period of N days from an event on day D ends at the end of day D+N.
//   - Art. 3(2)(c): a period of months or years ends at the end of the day in
//     the last month that has the same date as the day of the event, or at
//     the end of the last day of that month if it has no such date (31
//     January plus one month ends on 28 or 29 February).
//   - Art. 3(4): a period whose last day is a Saturday, Sunday or public
//     holiday ends at the end of the following working day.
//   - Art. 3(5): a period of two days or more includes at least two working
//     days; if it does not, it is extended working day by working day.
//
// The public holidays are those of the Algemene termijnenwet (Atw), the Dutch
// act that applies the same Saturday, Sunday and holiday rule to statutory
// periods: New Year's Day, Good Friday (art. 3(2) Atw), Easter Monday, King's
// Day, 5 May (every year), Ascension Day, Whit Monday, Christmas Day and
// Boxing Day (art. 3(1) Atw), and the days designated by decree under art.
// 3(3) Atw (see DutchDecreeDays). A Calendar can replace both lists.
//
// # Days and instants
//
// The day of an event and the last day of a period are days in the
// calendar's time zone, Europe/Amsterdam by default. A period ends "at the
// end of" its last day; this package represents that end as the exclusive
// instant Deadline.Due, the first instant of the following local day. An
// action taken at any instant strictly before Due is in time. Deadline.LastDay
// is the local date of the last day, for display ("respond by 2 March 2026").
//
// Periods expressed in hours, such as the 72 hours of GDPR Art. 33(1) or the
// 48 hours of the company's breach notification clock, count exact elapsed
// time and are not computed here.
package deadline
