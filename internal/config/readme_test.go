package config_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/praxiom/praxiom-api/internal/config"
)

// devOnlyVariables are the rows of the README's configuration table that
// config.Load never reads: praxiom-dev's own (cmd/praxiom-dev).
var devOnlyVariables = []string{"PRAXIOM_DATA_DIR", "DEV_PG_PORT", "MAILPIT_BIN", "DEV_MAILPIT_UI_PORT", "DEV_MAILPIT_SMTP_PORT"}

// sdkVariables are the rows of the README's configuration table that the
// OpenTelemetry SDK reads itself once tracing is on (the exporter's
// transport, the resource, the batch span processor); config.Load does not.
var sdkVariables = []string{
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	"OTEL_RESOURCE_ATTRIBUTES", "OTEL_BSP_*",
}

// TestREADMEListsEveryVariable holds the README's configuration table to
// the code: every variable config.Load asks for (with a minimal
// environment, and again with email and tracing on, so that the variables
// read only then are asked for too) has a row (its name in the first cell,
// alone or among others), and every name in a first cell is one Load asks
// for, one praxiom-dev reads (checked against its source) or one the
// OpenTelemetry SDK reads.
func TestREADMEListsEveryVariable(t *testing.T) {
	asked := map[string]bool{}
	envs := []map[string]string{
		base(),
		merge(base(), map[string]string{
			"SMTP_URL": "smtp://mail.internal:587", "MAIL_FROM": "Praxiom <no-reply@example.com>",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
			"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5",
		}),
		merge(base(), map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel-collector:4318/v1/traces"}),
	}
	for _, kv := range envs {
		lookup := func(k string) (string, bool) {
			asked[k] = true
			v, ok := kv[k]
			return v, ok
		}
		if _, err := config.Load(lookup); err != nil {
			t.Fatalf("Load(%v): %v", kv, err)
		}
	}
	for _, k := range []string{"DATABASE_URL", "SMTP_URL", "OTEL_TRACES_SAMPLER_ARG"} {
		if !asked[k] {
			t.Fatalf("Load never asked for %s: the recording lookup is not what Load reads through", k)
		}
	}

	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := configurationTable(t, string(readme))
	listed := map[string]bool{}
	for _, row := range rows {
		for _, name := range row {
			listed[name] = true
		}
	}

	for _, k := range slices.Sorted(maps.Keys(asked)) {
		if !listed[k] {
			t.Errorf("README.md, \"Configuration\": config.Load reads %s, but no row of the table names it", k)
		}
	}

	devSource := praxiomDevSource(t)
	for _, k := range devOnlyVariables {
		if !listed[k] {
			t.Errorf("README.md, \"Configuration\": praxiom-dev's %s has no row", k)
		}
		if !strings.Contains(devSource, `"`+k+`"`) {
			t.Errorf("%s is listed as praxiom-dev's own, but cmd/praxiom-dev does not read it", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(listed)) {
		switch {
		case asked[k], slices.Contains(devOnlyVariables, k), slices.Contains(sdkVariables, k):
		default:
			t.Errorf("README.md, \"Configuration\": the table has a row for %s, which nothing reads "+
				"(not config.Load, not praxiom-dev, not the OpenTelemetry SDK)", k)
		}
	}
}

// varName is a variable's name in backquotes, such as `PORT` or `OTEL_BSP_*`.
var varName = regexp.MustCompile("`([A-Z][A-Z0-9_]*\\*?)`")

// configurationTable returns, for each row of the table in the README's
// "Configuration" section, the variable names in its first cell.
func configurationTable(t *testing.T, readme string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var rows [][]string
	header := true
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break // the table has ended
			}
			continue
		}
		cells := strings.Split(line, "|")
		if header || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			header = false
			continue
		}
		names := []string{}
		for _, m := range varName.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		if len(names) == 0 {
			t.Errorf("README.md, \"Configuration\": a row names no variable in its first cell: %s", line)
		}
		rows = append(rows, names)
	}
	if len(rows) < 10 {
		t.Fatalf("README.md, \"Configuration\": found %d rows; is the table still there?", len(rows))
	}
	return rows
}

// praxiomDevSource returns the Go source of cmd/praxiom-dev (tests left out).
func praxiomDevSource(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "cmd", "praxiom-dev", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/praxiom-dev: no Go files (%v)", err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
