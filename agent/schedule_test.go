package agent

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSplitKey(t *testing.T) {
	cases := []struct {
		name, sql, build, attach string
	}{
		{"primary key", "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n",
			"CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);",
			"ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey;"},
		{"unique, two columns", "ALTER TABLE ONLY billing.notes\n    ADD CONSTRAINT notes_a_b_key UNIQUE (a, b);\n",
			"CREATE UNIQUE INDEX notes_a_b_key ON billing.notes USING btree (a, b);",
			"ALTER TABLE ONLY billing.notes ADD CONSTRAINT notes_a_b_key UNIQUE USING INDEX notes_a_b_key;"},
		{"quoted names", "ALTER TABLE ONLY \"My Schema\".\"Odd \"\"T\"\"\"\n    ADD CONSTRAINT \"Odd pk\" PRIMARY KEY (\"Id\", \"x,y\");\n",
			"CREATE UNIQUE INDEX \"Odd pk\" ON \"My Schema\".\"Odd \"\"T\"\"\" USING btree (\"Id\", \"x,y\");",
			"ALTER TABLE ONLY \"My Schema\".\"Odd \"\"T\"\"\" ADD CONSTRAINT \"Odd pk\" PRIMARY KEY USING INDEX \"Odd pk\";"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, a, ok := splitKey(c.sql)
			if !ok || b != c.build || a != c.attach {
				t.Fatalf("splitKey = %q, %q, %v\nwant      %q, %q", b, a, ok, c.build, c.attach)
			}
		})
	}
	// Anything that is not a plain key constraint runs whole: its index could not be built
	// the same way, or the statement does more than add the key.
	for _, sql := range []string{
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_k UNIQUE (a) DEFERRABLE INITIALLY DEFERRED;\n",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_k UNIQUE NULLS NOT DISTINCT (a);\n",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id) INCLUDE (a);\n",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id) WITH (fillfactor='70');\n",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_x EXCLUDE USING gist (r WITH &&);\n",
		"ALTER TABLE public.t\n    ADD CONSTRAINT t_c CHECK ((a > 0)) NOT VALID;\n",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\nALTER TABLE public.t CLUSTER ON t_pkey;\n",
		"ALTER TABLE public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n", // not ONLY: a partitioned table
	} {
		if b, a, ok := splitKey(sql); ok {
			t.Errorf("splitKey(%q) split it into %q and %q", sql, b, a)
		}
	}
}

func TestOwnSteps(t *testing.T) {
	items := []postItem{
		{sql: "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n"},
		{sql: "CREATE INDEX users_name_idx ON public.users USING btree (name);\n"},
		{sql: "CREATE INDEX users_c_idx ON public.users USING btree (c);\n\n\nALTER TABLE public.users CLUSTER ON users_c_idx;\n"},
		{sql: "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_k UNIQUE (k) DEFERRABLE;\n"},
	}
	builds, alters := ownSteps(items)
	wantBuilds := []string{
		"CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);",
		"CREATE INDEX users_name_idx ON public.users USING btree (name);\n",
	}
	wantAlters := []string{
		"ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey;",
		items[2].sql, items[3].sql,
	}
	if !slices.Equal(builds, wantBuilds) || !slices.Equal(alters, wantAlters) {
		t.Fatalf("ownSteps:\nbuilds %q\nalters %q", builds, alters)
	}
}

func TestLockSet(t *testing.T) {
	s := lockSet{}
	idx := []tableLock{{"public.users", lockShare}}
	s.take(idx)
	if !s.admits(idx) {
		t.Error("two index builds on one table must run together")
	}
	for _, m := range []lockMode{lockShareUpdateExc, lockShareRowExc, lockAccessExc} {
		if s.admits([]tableLock{{"public.users", m}}) {
			t.Errorf("mode %d admitted beside an index build", m)
		}
		if !s.admits([]tableLock{{"public.payments", m}}) {
			t.Errorf("mode %d on another table refused", m)
		}
	}
	fk := []tableLock{{"public.payments", lockShareRowExc}, {"public.users", lockShareRowExc}}
	s.release(idx)
	s.take(fk)
	if s.admits([]tableLock{{"public.users", lockShareUpdateExc}}) || s.admits(fk) {
		t.Error("ANALYZE or a second foreign key admitted beside a foreign key on the same table")
	}
	s.release(fk)
	if !s.admits([]tableLock{{"public.users", lockAccessExc}}) {
		t.Error("released locks still held")
	}
}

func TestIndexesExpression(t *testing.T) {
	for sql, want := range map[string]bool{
		"CREATE INDEX a ON public.t USING btree (created_at);":                         false,
		"CREATE INDEX a ON public.t USING btree (a, b) INCLUDE (c) WHERE (a > 0);":     false,
		"CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);":             false,
		"CREATE INDEX a ON public.t USING btree (lower(email));":                       true,
		"CREATE INDEX a ON public.t USING btree (a, ((b + 1)));":                       true,
		"CREATE INDEX a ON public.t USING gin (to_tsvector('english'::regconfig, b));": true,
		"CREATE INDEX a ON public.t (a);":                                              true, // not pg_dump's form: assume the worst
	} {
		if got := indexesExpression(sql); got != want {
			t.Errorf("indexesExpression(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestIndexKeysAndCost(t *testing.T) {
	for sql, want := range map[string][]string{
		"CREATE INDEX a ON public.t USING btree (created_at);":                            {"created_at"},
		"CREATE INDEX a ON public.t USING btree (a DESC NULLS LAST, b text_pattern_ops);": {"a", "b"},
		`CREATE UNIQUE INDEX "Odd pk" ON s."T" USING btree ("Id", "x,y", "a""(b)");`:      {"Id", "x,y", `a"(b)`},
		"CREATE INDEX a ON public.t USING btree (lower(email), id) INCLUDE (c);":          {"", "id"},
		"CREATE INDEX a ON public.t USING btree (((a + b)));":                             {""},
		"CREATE INDEX a ON public.t USING gist (r gist_trgm_ops(siglen='32'));":           {""},
	} {
		if got, ok := indexKeys(sql); !ok || !slices.Equal(got, want) {
			t.Errorf("indexKeys(%q) = %q, %v; want %q", sql, got, ok, want)
		}
	}
	weights := map[string]map[string]int{"public.users": {"id": weightFixed, "email": weightCollatable, "amount": weightVarlena}}
	for sql, want := range map[string]int{
		"CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);":     weightFixed,
		"CREATE UNIQUE INDEX k ON public.users USING btree (email);":           weightCollatable,
		"CREATE INDEX k ON public.users USING btree (amount, id);":             weightVarlena + weightFixed,
		"CREATE INDEX k ON public.users USING btree (lower(email));":           weightCollatable,
		"CREATE INDEX k ON public.users USING btree (dropped_or_unknown_col);": weightCollatable,
	} {
		if got := buildCost(sql, "public.users", weights); got != want {
			t.Errorf("buildCost(%q) = %d, want %d", sql, got, want)
		}
	}
}

// TestPlannerOrder drives the planner the way loadTables does, with 1 to 4 workers finishing
// their tasks in random orders, and checks every task runs once, in its table's stage order,
// foreign keys after both tables, and never beside a task whose locks conflict.
func TestPlannerOrder(t *testing.T) {
	loads := []tableLoad{{table: "public.users", size: 100}, {table: "public.payments", size: 300}, {table: "public.notes", size: 1}}
	own := map[string][]postItem{
		"public.users": {
			{sql: "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n"},
			{sql: "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_email_key UNIQUE (email);\n"},
			{sql: "CREATE INDEX users_created_idx ON public.users USING btree (created_at);\n"},
			{sql: "CREATE INDEX users_lower_idx ON public.users USING btree (lower(email));\n"},
		},
		"public.payments": {
			{sql: "ALTER TABLE ONLY public.payments\n    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);\n"},
			{sql: "CREATE INDEX payments_user_idx ON public.payments USING btree (user_id);\n"},
			{sql: "CREATE INDEX payments_c_idx ON public.payments USING btree (c);\nALTER TABLE public.payments CLUSTER ON payments_c_idx;\n"},
		},
	}
	fks := []postItem{
		{sql: "FK payments.user_id", needs: []string{"public.payments", "public.users"}},
		{sql: "FK payments.email", needs: []string{"public.payments", "public.users"}},
		{sql: "FK notes.user", needs: []string{"public.notes", "public.users"}},
		{sql: "FK audit.user", needs: []string{"public.audit", "public.users"}}, // a table without data: never placed
	}
	weights := map[string]map[string]int{"public.users": {"id": weightFixed, "email": weightCollatable, "created_at": weightFixed}}
	name := func(tk task) string {
		if tk.load != nil {
			return "load " + tk.load.table
		}
		return tk.sql
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		workers := 1 + run%4
		p := newPlanner(loads, own, slices.Clone(fks), weights)
		var running []task
		done := map[string]int{} // task name → finishing position
		for step := 0; step < 1000; step++ {
			for len(running) < workers {
				tk, ok := p.next()
				if !ok {
					break
				}
				for _, r := range running {
					for _, a := range tk.locks {
						for _, b := range r.locks {
							if a.table == b.table && pgConflict[a.mode][b.mode] {
								t.Fatalf("run %d: %q started beside %q", run, name(tk), name(r))
							}
						}
					}
				}
				running = append(running, tk)
			}
			if len(running) == 0 {
				break
			}
			i := rng.IntN(len(running))
			tk := running[i]
			running = slices.Delete(running, i, i+1)
			if _, twice := done[name(tk)]; twice {
				t.Fatalf("run %d: %q ran twice", run, name(tk))
			}
			done[name(tk)] = len(done)
			p.finish(tk, true)
		}
		before := func(a, b string) {
			t.Helper()
			ia, oka := done[a]
			ib, okb := done[b]
			if !oka || !okb || ia >= ib {
				t.Fatalf("run %d (%d workers): want %q (%d, %v) done before %q (%d, %v)", run, workers, a, ia, oka, b, ib, okb)
			}
		}
		usersPK := "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);"
		usersPKAttach := "ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pkey;"
		before("load public.users", usersPK)
		before(usersPK, usersPKAttach)
		before("CREATE INDEX users_lower_idx ON public.users USING btree (lower(email));\n", `ANALYZE "public"."users"`)
		before(usersPKAttach, "FK payments.user_id")
		before(`ANALYZE "public"."payments"`, "CREATE INDEX payments_user_idx ON public.payments USING btree (user_id);\n")
		before("CREATE INDEX payments_user_idx ON public.payments USING btree (user_id);\n", own["public.payments"][2].sql)
		before(own["public.payments"][2].sql, "FK payments.email")
		before("load public.notes", "FK notes.user")
		if want := 3 + 1 + 4 + 2 + 1 + 3 + 1 + 3 + 1; len(done) != want { // loads, users, payments, notes, FKs
			t.Fatalf("run %d: %d tasks ran, want %d: %v", run, len(done), want, done)
		}
		if len(p.fks) != 1 || p.fks[0].sql != "FK audit.user" {
			t.Fatalf("run %d: unplaced foreign keys %v", run, p.fks)
		}
	}
}

// pgConflict is PostgreSQL's table lock conflict matrix ("Conflicting Lock Modes" in the
// manual) restricted to the modes the planner uses, written out independently of conflicts.
var pgConflict = map[lockMode]map[lockMode]bool{
	lockShare:          {lockShareUpdateExc: true, lockShareRowExc: true, lockAccessExc: true},
	lockShareUpdateExc: {lockShare: true, lockShareUpdateExc: true, lockShareRowExc: true, lockAccessExc: true},
	lockShareRowExc:    {lockShare: true, lockShareUpdateExc: true, lockShareRowExc: true, lockAccessExc: true},
	lockAccessExc:      {lockShare: true, lockShareUpdateExc: true, lockShareRowExc: true, lockAccessExc: true},
}

func TestConflictsMatchesPostgreSQL(t *testing.T) {
	modes := []lockMode{lockShare, lockShareUpdateExc, lockShareRowExc, lockAccessExc}
	for _, a := range modes {
		for _, b := range modes {
			if conflicts(a, b) != pgConflict[a][b] {
				t.Errorf("conflicts(%d, %d) = %v, PostgreSQL says %v", a, b, conflicts(a, b), pgConflict[a][b])
			}
		}
	}
}
