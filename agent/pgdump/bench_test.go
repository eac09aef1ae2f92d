package pgdump

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchSQL makes a users table like the one of the restore benchmark (issue 5).
const benchSQL = `
CREATE TABLE public.users (id bigint PRIMARY KEY, email text, ssn text, phone text, name text, created_at timestamptz);
INSERT INTO public.users SELECT i, 'user' || i || '@example.com', lpad((i::bigint * 7919 %% 1000000000)::text, 9, '0'),
  '+1-555-' || lpad((i %% 10000)::text, 4, '0'), 'Name ' || md5(i::text), '2024-01-01'::timestamptz + i * interval '1 second'
  FROM generate_series(1, %d) i;
`

// BenchmarkData measures Data() throughput, in MB/s of COPY text, on one large table of a
// gzip-compressed and of an uncompressed archive, next to pg_restore printing the same
// table's data to /dev/null. Rows: BENCH_ROWS (default 1,000,000).
//
//	go test -run '^$' -bench BenchmarkData -benchtime 3x ./agent/pgdump/
func BenchmarkData(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BENCH_ROWS: %v", err)
		}
		rows = n
	}
	f := newFixture(b, fmt.Sprintf(benchSQL, rows))
	for _, v := range []struct {
		name string
		args []string
	}{
		{"gzip", []string{"-Fc"}},
		{"uncompressed", []string{"-Fc", "-Z0"}},
	} {
		path := f.dump(b, v.name+".dump", false, v.args...)
		a := openFile(b, path)
		e := findEntry(b, a, "TABLE DATA", "public.users")
		text := readLen(b, a, e)
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d rows, %d bytes of COPY text, archive %d bytes", v.name, rows, text, st.Size())
		b.Run(v.name+"/Data", func(b *testing.B) {
			b.SetBytes(text)
			start := selfCPU(b)
			for b.Loop() {
				readLen(b, a, e)
			}
			reportCPU(b, text, selfCPU(b)-start)
		})
		b.Run(v.name+"/pg_restore", func(b *testing.B) {
			b.SetBytes(text)
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command("pg_restore", "--data-only", "-t", "users", "-f", "/dev/null", path)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("pg_restore: %v: %s", err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			reportCPU(b, text, cpu)
		})
	}
}

// reportCPU reports throughput per CPU second, which other processes on a busy machine
// disturb less than wall-clock MB/s.
func reportCPU(b *testing.B, text int64, cpu time.Duration) {
	b.ReportMetric(float64(text)*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
}

// selfCPU is the CPU time this process has used (user and system, all threads).
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func readLen(b testing.TB, a *Archive, e Entry) int64 {
	r, err := a.Data(e)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
