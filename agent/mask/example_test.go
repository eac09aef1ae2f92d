package mask_test

import (
	"fmt"

	"github.com/clonebot/clonebot/agent/mask"
)

func Example() {
	rules, err := mask.ParseRules([]byte(`
levels:
  full:
    public.users:
      email: {strategy: fake-email, unique: true}
      ssn: {strategy: partial, keep_first: 0, keep_last: 4}
      id: keep
      name: keep
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	profile, _ := rules.Profile("full")
	users := mask.Table{Name: "public.users", Columns: []mask.Column{{Name: "id", Type: "integer"},
		{Name: "email", Type: "text"}, {Name: "ssn", Type: "text"}, {Name: "name", Type: "text"}}}
	plan, err := profile.Resolve([]mask.Table{users})
	if err == nil {
		err = plan.Refusal() // every column is ruled or kept
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	columns := []string{"id", "email", "ssn", "name"}
	m, ok, err := plan.ForTable("public.users", columns, mask.Options{Key: []byte("example key, 16+ bytes")})
	if err != nil || !ok {
		fmt.Println(ok, err)
		return
	}
	out, err := m.MaskLine(nil, []byte("7\tjohn.doe@corp.example\t123-45-6789\tJohn\\tDoe"))
	fmt.Printf("%s %v\n", out, err)
	// Output: 7	jamal.jjfk5zsrpmvze5eu@example.com	***-**-6789	John\tDoe <nil>
}
