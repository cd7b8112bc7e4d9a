package config

import (
	"reflect"
	"testing"
	"time"
)

func TestTriggerDefaults(t *testing.T) {
	c, err := Decode([]byte("[source]\npath = \"/t\"\n[publish]\ndir = \"/r\"\n"), "min.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Trigger{TokenFile: "/etc/apkfarm/hook-token", Branches: []string{"master"}, MaxBody: 4 << 20, OnStop: "cancel", HealthzMaxAge: Duration(24 * time.Hour)}
	if !reflect.DeepEqual(c.Trigger, want) {
		t.Errorf("defaults = %+v, want %+v", c.Trigger, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c, err = Decode([]byte("[trigger]\nevery = \"@hourly\"\nbranches = [\"main\", \"v24.06\"]\nmax_body = \"64KiB\"\non_stop = \"finish\"\nhealthz_max_age = \"0s\"\n"), "x.toml")
	if err != nil {
		t.Fatal(err)
	}
	want = Trigger{Every: "@hourly", TokenFile: "/etc/apkfarm/hook-token", Branches: []string{"main", "v24.06"}, MaxBody: 64 << 10, OnStop: "finish"}
	if !reflect.DeepEqual(c.Trigger, want) {
		t.Errorf("decoded = %+v, want %+v", c.Trigger, want)
	}
}

func TestTriggerValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Trigger)
		want   []string // each problem, in order
	}{
		{"valid", func(*Trigger) {}, nil},
		{"listener", func(s *Trigger) { s.Listen = ":8080"; s.Every = "CRON_TZ=Europe/Berlin 0 3 * * *" }, nil},
		{"port 0", func(s *Trigger) { s.Listen = "127.0.0.1:0" }, nil},
		{"every problem at once", func(s *Trigger) {
			s.Every = "*/15 * * *"
			s.Listen = "localhost"
			s.TokenFile = ""
			s.Branches = []string{"refs/heads/master", "", "a b", "-x", "a..b", "ok/branch"}
			s.MaxBody = 0
			s.OnStop = "wait"
			s.HealthzMaxAge = -1
		}, []string{
			`trigger.every: parse schedule "*/15 * * *": expected exactly 5 fields`,
			`trigger.listen: "localhost": want host:port`,
			`trigger.token_file: missing`,
			`trigger.branches: "refs/heads/master": give the branch name ("master"), not the ref`,
			`trigger.branches: "" is not a git branch name`,
			`trigger.branches: "a b" is not`, `trigger.branches: "-x" is not`, `trigger.branches: "a..b" is not`,
			`trigger.max_body: 0 bytes`,
			`trigger.on_stop: "wait": want "cancel" or "finish"`,
			`trigger.healthz_max_age: -1ns is negative`,
		}},
		{"panicking expression", func(s *Trigger) { s.Every = "TZ=UTC" }, []string{`trigger.every: parse schedule "TZ=UTC": malformed`}},
		{"never", func(s *Trigger) { s.Every = "0 0 31 4 *" }, []string{`trigger.every: parse schedule "0 0 31 4 *": it never fires`}},
		{"bad port", func(s *Trigger) { s.Listen = "127.0.0.1:http" }, []string{`trigger.listen:`}},
		{"huge body", func(s *Trigger) { s.MaxBody = 1 << 30 }, []string{`trigger.max_body: 1073741824 bytes: want a size from 1 byte to 64MiB`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Source.Path, c.Publish.Dir = "/srv/pmaports", "/srv/repo"
			tt.change(&c.Trigger)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantProblems(t, err, tt.want)
		})
	}
}
