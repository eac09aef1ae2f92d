package approvals

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// GoldenConfig is a source's golden copies (policy: sources.<name>.golden): for each masking
// level listed, a verified masked copy built on a schedule, from which requests of that level
// for the newest backup are served by a thin copy in seconds.
type GoldenConfig struct {
	Levels []MaskLevel `yaml:"levels"` // masked levels to prepare (full, partial)
	// ReadyBy is when a new copy must be ready: "mon 07:00", "mon,thu 07:00", "mon-fri 06:30"
	// or "07:00" (every day), in TimeZone. The build starts early enough to finish by then:
	// the longest of the last builds (ExpectedBuild) plus Margin before it.
	ReadyBy string `yaml:"ready_by"`
	// Cron is when a build starts instead, as a five-field cron expression in TimeZone.
	Cron     string   `yaml:"cron"`
	TimeZone string   `yaml:"timezone"` // IANA name; default UTC
	Keep     int      `yaml:"keep"`     // ready generations kept per level (default DefaultGoldenKeep)
	Margin   Duration `yaml:"margin"`   // ready_by: extra lead (default DefaultGoldenMargin)
}

// Defaults of a golden schedule.
const (
	DefaultGoldenKeep   = 2
	DefaultGoldenMargin = 30 * time.Minute
	// DefaultBuildEstimate is the expected length of a build when none has finished yet.
	DefaultBuildEstimate = time.Hour
	// recentBuilds is how many of the last builds' durations the estimate reads.
	recentBuilds = 3
	// minCronGap is the shortest gap allowed between two builds a cron schedule starts.
	minCronGap = time.Hour
	// lookback bounds how far back a schedule's missed slot is looked for (catch-up after
	// downtime, the first build of a new schedule): longer than a month, the longest period
	// a cron schedule of golden builds sensibly has.
	lookback = 35 * 24 * time.Hour
)

// KeepOrDefault is how many ready generations of each level are kept.
func (g *GoldenConfig) KeepOrDefault() int {
	if g.Keep > 0 {
		return g.Keep
	}
	return DefaultGoldenKeep
}

// Prepares reports whether level has golden copies.
func (g *GoldenConfig) Prepares(level MaskLevel) bool {
	return g != nil && slices.Contains(g.Levels, level)
}

// Schedule is when a line of golden copies (a source at one masking level) is built. Each
// build is for a slot: with ready_by, the moment the copy must be ready, and the build starts
// its lead before it; with cron, the moment the build starts. Pure: the caller gives the time
// and what it remembers of past builds.
type Schedule struct {
	loc    *time.Location
	days   [7]bool       // ready_by: the weekdays
	clock  time.Duration // ready_by: the time of day
	cron   cron.Schedule // cron
	margin time.Duration
}

// cronParser reads the standard five fields (minute hour day-of-month month day-of-week)
// and the @daily-style descriptors, as crontab(5) and Kubernetes CronJobs do.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule checks g's timing and returns it. Its errors are sentences without the field.
func (g *GoldenConfig) Schedule() (Schedule, error) {
	s := Schedule{loc: time.UTC, margin: DefaultGoldenMargin}
	if g.Margin > 0 {
		s.margin = time.Duration(g.Margin)
	}
	if g.TimeZone != "" {
		loc, err := time.LoadLocation(g.TimeZone)
		if err != nil {
			return Schedule{}, fmt.Errorf("%q is not a time zone like Europe/Paris or UTC", g.TimeZone)
		}
		s.loc = loc
	}
	switch {
	case g.ReadyBy != "" && g.Cron != "":
		return Schedule{}, errors.New("give ready_by or cron, not both")
	case g.ReadyBy != "":
		days, clock, err := parseReadyBy(g.ReadyBy)
		if err != nil {
			return Schedule{}, err
		}
		s.days, s.clock = days, clock
	case g.Cron != "":
		if strings.HasPrefix(strings.TrimSpace(g.Cron), "CRON_TZ=") || strings.HasPrefix(strings.TrimSpace(g.Cron), "TZ=") {
			return Schedule{}, errors.New("give the time zone as timezone, not in the cron expression")
		}
		c, err := cronParser.Parse(g.Cron)
		if err != nil {
			return Schedule{}, fmt.Errorf("%q is not a cron expression like \"0 2 * * *\" (minute hour day month weekday): %v", g.Cron, err)
		}
		if spec, ok := c.(*cron.SpecSchedule); ok {
			spec.Location = s.loc // the parser's default is the process's zone
		}
		s.cron = c
		if gap := s.shortestGap(); gap < minCronGap {
			return Schedule{}, fmt.Errorf("%q starts builds %s apart; golden copies are built at most hourly", g.Cron, gap)
		}
	default:
		return Schedule{}, errors.New("give ready_by (like \"mon 07:00\") or cron (like \"0 2 * * *\")")
	}
	return s, nil
}

// shortestGap is the shortest time between two of a cron schedule's next 200 slots.
func (s Schedule) shortestGap() time.Duration {
	// fixed date: a reference point for the gaps between slots, which no server sees.
	t := time.Date(2030, 1, 1, 0, 0, 0, 0, s.loc)
	gap := time.Duration(1<<63 - 1)
	for range 200 {
		next := s.cron.Next(t)
		if next.IsZero() {
			break
		}
		gap = min(gap, next.Sub(t))
		t = next
	}
	return gap
}

// parseReadyBy reads "mon 07:00", "mon,thu 07:00", "mon-fri 07:00" or "07:00".
func parseReadyBy(s string) (days [7]bool, clock time.Duration, err error) {
	fields := strings.Fields(s)
	bad := fmt.Errorf("%q is not a day and time like \"mon 07:00\", \"mon-fri 06:30\" or \"07:00\" (every day)", s)
	if len(fields) == 0 || len(fields) > 2 {
		return days, 0, bad
	}
	t, err := time.Parse("15:04", fields[len(fields)-1])
	if err != nil {
		return days, 0, bad
	}
	clock = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	if len(fields) == 1 {
		for i := range days {
			days[i] = true
		}
		return days, clock, nil
	}
	for _, part := range strings.Split(strings.ToLower(fields[0]), ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, ok1 := weekdays[from]
		b, ok2 := weekdays[to]
		if !ok1 || isRange && !ok2 {
			return days, 0, bad
		}
		if !isRange {
			b = a
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, clock, nil
}

// ReadyBy reports whether the schedule is a ready_by one (its slots are deadlines).
func (s Schedule) ReadyBy() bool { return s.cron == nil }

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }

// Lead is how long before its slot a build starts, when builds take expected.
func (s Schedule) Lead(expected time.Duration) time.Duration {
	if s.cron != nil {
		return 0
	}
	return expected + s.margin
}

// slotAfter returns the first slot strictly after t. A ready_by time that does not exist on a
// day (the hour skipped when clocks go forward) is the same time after the change, as Go's
// time.Date normalises it; a time that happens twice (clocks going back) is its first.
func (s Schedule) slotAfter(t time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(t)
	}
	lt := t.In(s.loc)
	h, m := int(s.clock/time.Hour), int(s.clock%time.Hour/time.Minute)
	for i := 0; i <= 8; i++ {
		noon := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 12, 0, 0, 0, s.loc)
		if !s.days[noon.Weekday()] {
			continue
		}
		if slot := time.Date(noon.Year(), noon.Month(), noon.Day(), h, m, 0, 0, s.loc); slot.After(t) {
			return slot
		}
	}
	return time.Time{} // a ready_by schedule has a day each week; not reached
}

// Due returns the slot whose build is due at now: the latest slot whose build start (the slot
// less its Lead) is not after now, when it is later than last, the slot of the last build
// started (zero: none). Several slots missed (the service was down) give one build, for the
// latest of them; a schedule whose last build is older than the lookback, or that never
// built, builds for its latest slot at once.
func (s Schedule) Due(now, last time.Time, expected time.Duration) (time.Time, bool) {
	horizon := now.Add(s.Lead(expected))
	from := last
	if floor := horizon.Add(-lookback); from.Before(floor) {
		from = floor
	}
	var due time.Time
	for t := s.slotAfter(from); !t.IsZero() && !t.After(horizon); t = s.slotAfter(t) {
		due = t
	}
	if due.IsZero() || !due.After(last) {
		return time.Time{}, false
	}
	return due, true
}

// Next returns the next slot after the one due at now and when its build starts.
func (s Schedule) Next(now time.Time, expected time.Duration) (start, slot time.Time) {
	lead := s.Lead(expected)
	slot = s.slotAfter(now.Add(lead))
	return slot.Add(-lead), slot
}

// ExpectedBuild is how long the next build is expected to take: the longest of the most
// recent builds (newest last), or DefaultBuildEstimate when none has finished.
func ExpectedBuild(recent []time.Duration) time.Duration {
	if len(recent) == 0 {
		return DefaultBuildEstimate
	}
	return slices.Max(recent[max(0, len(recent)-recentBuilds):])
}
