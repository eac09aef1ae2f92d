package approvals

import (
	"strings"
	"testing"
	"time"
)

// The schedules below are computed, never shown to a server: their dates are fixed so that
// the daylight-saving changes of Europe/Paris fall where the cases say (2026-03-29: 02:00 CET
// becomes 03:00 CEST; 2026-10-25: 03:00 CEST becomes 02:00 CET).

func mustSchedule(t *testing.T, g GoldenConfig) Schedule {
	t.Helper()
	s, err := g.Schedule()
	if err != nil {
		t.Fatalf("schedule %+v: %v", g, err)
	}
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleDue(t *testing.T) {
	weekly := GoldenConfig{ReadyBy: "mon 07:00"}                                                          // UTC, margin 30m
	paris := GoldenConfig{ReadyBy: "mon 07:00", TimeZone: "Europe/Paris"}                                 // slots at 07:00 local
	sunday := GoldenConfig{ReadyBy: "sun 04:00", TimeZone: "Europe/Paris", Margin: Duration(time.Hour)}   // lead crosses the change
	gap := GoldenConfig{ReadyBy: "sun 02:30", TimeZone: "Europe/Paris"}                                   // 02:30 does not exist on 03-29
	nightly := GoldenConfig{Cron: "0 2 * * *", TimeZone: "Europe/Paris"}                                  // starts at 02:00 local
	weekdays := GoldenConfig{ReadyBy: "mon-fri 06:30", TimeZone: "America/New_York", Margin: Duration(0)} // default margin
	tests := []struct {
		name     string
		cfg      GoldenConfig
		now      string // fixed date: a computed schedule, see above
		last     string // "" never built
		expected time.Duration
		wantSlot string // "" not due
	}{
		{"before the start", weekly, "2026-03-23T05:29:59Z", "2026-03-16T07:00:00Z", time.Hour, ""},
		{"at the start: 1h build + 30m margin before 07:00", weekly, "2026-03-23T05:30:00Z", "2026-03-16T07:00:00Z", time.Hour, "2026-03-23T07:00:00Z"},
		{"a longer build starts earlier", weekly, "2026-03-23T03:30:00Z", "2026-03-16T07:00:00Z", 3 * time.Hour, "2026-03-23T07:00:00Z"},
		{"started already: not again", weekly, "2026-03-23T06:00:00Z", "2026-03-23T07:00:00Z", time.Hour, ""},
		{"catch-up: two missed Mondays give one build, for the latest", weekly, "2026-03-25T10:00:00Z", "2026-03-09T07:00:00Z", time.Hour, "2026-03-23T07:00:00Z"},
		{"never built: the latest slot at once", weekly, "2026-03-25T10:00:00Z", "", time.Hour, "2026-03-23T07:00:00Z"},
		{"CET: 07:00 is 06:00 UTC, start 2h30m before", paris, "2026-03-23T03:30:00Z", "2026-03-16T06:00:00Z", 2 * time.Hour, "2026-03-23T06:00:00Z"},
		{"CET: not a minute early", paris, "2026-03-23T03:29:00Z", "2026-03-16T06:00:00Z", 2 * time.Hour, ""},
		{"CEST after the change: 07:00 is 05:00 UTC", paris, "2026-03-30T02:30:00Z", "2026-03-23T06:00:00Z", 2 * time.Hour, "2026-03-30T05:00:00Z"},
		{"CEST: not a minute early", paris, "2026-03-30T02:29:00Z", "2026-03-23T06:00:00Z", 2 * time.Hour, ""},
		{"back to CET in autumn", paris, "2026-10-26T03:30:00Z", "2026-10-19T05:00:00Z", 2 * time.Hour, "2026-10-26T06:00:00Z"},
		{"a lead across the change counts real hours (00:00 CET = 23:00Z)", sunday, "2026-03-28T23:00:00Z", "2026-03-22T03:00:00Z", 2 * time.Hour, "2026-03-29T02:00:00Z"},
		{"a lead across the change: not at 00:00Z", sunday, "2026-03-28T22:59:00Z", "2026-03-22T03:00:00Z", 2 * time.Hour, ""},
		{"a time the change skips is the same time after it (03:30 CEST)", gap, "2026-03-29T00:00:00Z", "2026-03-22T01:30:00Z", time.Hour, "2026-03-29T01:30:00Z"},
		{"cron: at its time, whatever the estimate", nightly, "2026-03-27T01:00:00Z", "2026-03-26T01:00:00Z", 5 * time.Hour, "2026-03-27T01:00:00Z"},
		{"cron: not before", nightly, "2026-03-27T00:59:00Z", "2026-03-26T01:00:00Z", 5 * time.Hour, ""},
		{"cron after the change: 02:00 CEST is 00:00Z", nightly, "2026-03-30T00:00:00Z", "2026-03-28T01:00:00Z", time.Hour, "2026-03-30T00:00:00Z"},
		{"weekdays: Friday's slot on Sunday", weekdays, "2026-03-22T12:00:00Z", "2026-03-19T10:30:00Z", time.Hour, "2026-03-20T10:30:00Z"},
		{"weekdays: Monday's, EDT (06:30 = 10:30Z), start 1h30m before", weekdays, "2026-03-23T09:00:00Z", "2026-03-20T10:30:00Z", time.Hour, "2026-03-23T10:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSchedule(t, tt.cfg)
			var last time.Time
			if tt.last != "" {
				last = utc(tt.last)
			}
			slot, due := s.Due(utc(tt.now), last, tt.expected)
			switch {
			case tt.wantSlot == "" && due:
				t.Fatalf("due for %s, want not due", slot.UTC().Format(time.RFC3339))
			case tt.wantSlot != "" && !due:
				t.Fatalf("not due, want the slot %s", tt.wantSlot)
			case tt.wantSlot != "" && !slot.Equal(utc(tt.wantSlot)):
				t.Fatalf("slot %s, want %s", slot.UTC().Format(time.RFC3339), tt.wantSlot)
			}
		})
	}
}

func TestScheduleNext(t *testing.T) {
	s := mustSchedule(t, GoldenConfig{ReadyBy: "mon 07:00", TimeZone: "Europe/Paris"})
	// fixed date: a computed schedule (Wednesday before the spring change).
	start, slot := s.Next(utc("2026-03-25T12:00:00Z"), 2*time.Hour)
	if want := utc("2026-03-30T05:00:00Z"); !slot.Equal(want) {
		t.Fatalf("next slot %s, want %s (07:00 CEST)", slot, want)
	}
	if want := utc("2026-03-30T02:30:00Z"); !start.Equal(want) {
		t.Fatalf("next start %s, want %s", start, want)
	}
}

func TestExpectedBuild(t *testing.T) {
	tests := []struct {
		recent []time.Duration
		want   time.Duration
	}{
		{nil, DefaultBuildEstimate},
		{[]time.Duration{10 * time.Minute}, 10 * time.Minute},
		{[]time.Duration{90 * time.Minute, 10 * time.Minute, 40 * time.Minute, 20 * time.Minute}, 40 * time.Minute}, // the last three
	}
	for _, tt := range tests {
		if got := ExpectedBuild(tt.recent); got != tt.want {
			t.Errorf("ExpectedBuild(%v) = %s, want %s", tt.recent, got, tt.want)
		}
	}
}

func TestGoldenConfigErrors(t *testing.T) {
	base := "default_tier: dev\npending_expiry: 1h\nsources:\n  prod:\n    backend: local\n    strategy: restore\n    backups: /b\n    golden:\n%s\ntiers:\n  dev:\n    masking: full\n    approval: auto\n    default_ttl: 8h\n    max_ttl: 8h\n    requesters: [group:d]\n"
	tests := []struct {
		name, golden, field, msg string
	}{
		{"no levels", `      ready_by: "mon 07:00"`, "sources.prod.golden.levels", "name the masking levels"},
		{"unmasked", "      levels: [none]\n      ready_by: \"mon 07:00\"", "sources.prod.golden.levels.0", "not none"},
		{"twice", "      levels: [full, full]\n      ready_by: \"mon 07:00\"", "sources.prod.golden.levels.1", "listed twice"},
		{"no time", "      levels: [full]", "sources.prod.golden", "give ready_by"},
		{"both", "      levels: [full]\n      ready_by: \"mon 07:00\"\n      cron: \"0 2 * * *\"", "sources.prod.golden.cron", "not both"},
		{"bad day", "      levels: [full]\n      ready_by: \"monday 07:00\"", "sources.prod.golden.ready_by", `"monday 07:00" is not a day and time`},
		{"bad hour", "      levels: [full]\n      ready_by: \"mon 25:00\"", "sources.prod.golden.ready_by", "is not a day and time"},
		{"bad zone", "      levels: [full]\n      ready_by: \"mon 07:00\"\n      timezone: Mars/Base", "sources.prod.golden.timezone", "is not a time zone"},
		{"bad cron", "      levels: [full]\n      cron: \"0 2 * *\"", "sources.prod.golden.cron", "is not a cron expression"},
		{"cron too often", "      levels: [full]\n      cron: \"*/5 * * * *\"", "sources.prod.golden.cron", "at most hourly"},
		{"zone in the cron", "      levels: [full]\n      cron: \"CRON_TZ=UTC 0 2 * * *\"", "sources.prod.golden.cron", "give the time zone as timezone"},
		{"negative keep", "      levels: [full]\n      ready_by: \"07:00\"\n      keep: -1", "sources.prod.golden.keep", "must be 1 or more"},
		{"unknown key", "      levels: [full]\n      ready_by: \"07:00\"\n      kept: 2", "sources.prod.golden.kept", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicyFile("policy.yaml", []byte(strings.Replace(base, "%s", tt.golden, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			ve, ok := err.(*ValidationError)
			if !ok || ve.Field != tt.field || ve.Line == 0 || !strings.Contains(ve.Msg, tt.msg) {
				t.Fatalf("err = %v, want %s with a line and %q", err, tt.field, tt.msg)
			}
		})
	}
	p, err := ParsePolicy([]byte(strings.Replace(base, "%s", "      levels: [full, partial]\n      cron: \"@daily\"", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Sources["prod"].Golden; g.KeepOrDefault() != DefaultGoldenKeep || !g.Prepares(MaskPartial) || g.Prepares(MaskNone) {
		t.Fatalf("golden %+v: keep %d", g, g.KeepOrDefault())
	}
}

func TestGoldenServes(t *testing.T) {
	day := utc("2026-03-22T00:00:00Z") // fixed date: no server sees it
	gs := []*Golden{
		{ID: "gd-a", Source: "prod", Masking: MaskFull, Generation: 1, Status: GoldenReady, BackupDate: day.AddDate(0, 0, -7)},
		{ID: "gd-b", Source: "prod", Masking: MaskFull, Generation: 2, Status: GoldenReady, BackupDate: day},
		{ID: "gd-c", Source: "prod", Masking: MaskFull, Generation: 3, Status: GoldenRestoring, BackupDate: day.AddDate(0, 0, 1)},
		{ID: "gd-d", Source: "prod", Masking: MaskPartial, Generation: 1, Status: GoldenReady, BackupDate: day},
	}
	tests := []struct {
		name   string
		level  MaskLevel
		latest bool
		date   time.Time
		want   string
	}{
		{"latest: the newest ready generation", MaskFull, true, time.Time{}, "gd-b"},
		{"an older generation's day", MaskFull, false, day.AddDate(0, 0, -7).Add(3 * time.Hour), "gd-a"},
		{"a building generation serves nothing", MaskFull, false, day.AddDate(0, 0, 1), ""},
		{"another day", MaskFull, false, day.AddDate(0, 0, -2), ""},
		{"another level", MaskPartial, true, time.Time{}, "gd-d"},
		{"no golden copy of that level", MaskNone, true, time.Time{}, ""},
	}
	for _, tt := range tests {
		got := ""
		if g := NewestReady(gs, "prod", tt.level, tt.latest, tt.date); g != nil {
			got = g.ID
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if id := NewGoldenID(); !IsGoldenID(id) || IsGoldenID(NewID()) {
		t.Fatalf("golden ids: %s", id)
	}
}
