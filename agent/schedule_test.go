package agent

import (
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
