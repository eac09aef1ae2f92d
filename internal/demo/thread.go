package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/clonebot/clonebot/bot/slackfake"
)

// thread prints what the bot sent to Slack, in the order it was sent, as a person reads it:
// the text of the Block Kit blocks, never their JSON. Each flush prints the calls made since
// the last one, so a card edited in place shows up in each of its states.
type thread struct {
	out      io.Writer
	fake     *slackfake.Server
	names    map[string]string // user and user group IDs → @handle; channel IDs → #name
	answerTo map[string]string // response_url → the user who sees the answer
	viewer   map[string]string // trigger_id → the user a modal opened with it shows to
	printed  int               // calls already printed
}

func newThread(out io.Writer, fake *slackfake.Server) *thread {
	return &thread{out: out, fake: fake, names: map[string]string{}, answerTo: map[string]string{}, viewer: map[string]string{}}
}

// flush prints every message write made since the last flush.
func (t *thread) flush() {
	calls := t.fake.Calls()
	for _, c := range calls[t.printed:] {
		if c.Status != 0 && c.Status != 200 {
			continue
		}
		var label string
		switch c.Method {
		case "chat.postMessage":
			switch ch := c.Param("channel"); {
			case strings.HasPrefix(ch, "U"):
				label = "[DM to " + t.name(ch) + "]"
			case c.Param("thread_ts") != "":
				label = "[thread]"
			default:
				label = "[" + t.name(ch) + "]"
			}
		case "chat.update":
			switch m, _ := t.fake.Message(c.Param("channel"), c.Param("ts")); {
			case isCard(c.Param("blocks")):
				label = "[card updated]"
			case m.ThreadTS != "" && m.ThreadTS != m.TS:
				label = "[thread, edited]"
			default:
				label = "[" + t.name(c.Param("channel")) + ", edited]"
			}
		case "chat.postEphemeral":
			label = "[only " + t.name(c.Param("user")) + " sees]"
		case slackfake.MethodResponseURL:
			label = "[only " + t.name(t.answerTo[c.URL]) + " sees]"
		case "views.open":
			t.modal(c)
			continue
		default:
			continue
		}
		t.print(label, c.Param("text"), c.Param("blocks"))
	}
	t.printed = len(calls)
}

// print writes one message: its label, then its blocks' text (or its fallback text), indented.
func (t *thread) print(label, text, blocks string) {
	lines := t.blockLines(blocks)
	if len(lines) == 0 {
		lines = []string{t.clean(text)}
	}
	fmt.Fprintf(t.out, "%-20s %s\n", label, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(t.out, "%-20s %s\n", "", l)
	}
}

// modal prints a modal the bot opened: its title, blocks and submit button.
func (t *thread) modal(c slackfake.Call) {
	var req struct {
		TriggerID string `json:"trigger_id"`
		View      struct {
			Title  textObj         `json:"title"`
			Submit *textObj        `json:"submit"`
			Blocks json.RawMessage `json:"blocks"`
		} `json:"view"`
	}
	if json.Unmarshal(c.JSON, &req) != nil {
		return
	}
	lines := append([]string{req.View.Title.Text}, t.blockLines(string(req.View.Blocks))...)
	if req.View.Submit != nil {
		lines = append(lines, "[Cancel] ["+req.View.Submit.Text+"]")
	}
	fmt.Fprintf(t.out, "%-20s %s\n", "[modal for "+t.name(t.viewer[req.TriggerID])+"]", lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(t.out, "%-20s %s\n", "", l)
	}
}

// block is the part of a Block Kit block the demo reads.
type block struct {
	Type     string     `json:"type"`
	Text     *textObj   `json:"text"`
	Label    *textObj   `json:"label"`
	Fields   []*textObj `json:"fields"`
	Elements []struct {
		Type string          `json:"type"`
		Text json.RawMessage `json:"text"` // a string in context elements, an object in buttons
	} `json:"elements"`
}

type textObj struct {
	Text string `json:"text"`
}

func isCard(blocks string) bool {
	var bs []block
	_ = json.Unmarshal([]byte(blocks), &bs)
	return len(bs) > 0 && bs[0].Type == "header"
}

// blockLines renders blocks as lines of text: headers and sections as they read, fields as
// "Name: value" on one line, context elements joined, buttons as [Label].
func (t *thread) blockLines(blocks string) []string {
	var bs []block
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		return nil
	}
	var lines []string
	for _, b := range bs {
		switch b.Type {
		case "header", "section":
			if b.Text != nil {
				lines = append(lines, strings.Split(t.clean(b.Text.Text), "\n")...)
			}
			var fields []string
			for _, f := range b.Fields {
				name, value, _ := strings.Cut(f.Text, "\n")
				fields = append(fields, t.clean(name)+": "+t.clean(value))
			}
			if len(fields) > 0 {
				lines = append(lines, strings.Join(fields, " · "))
			}
		case "context":
			var parts []string
			for _, e := range b.Elements {
				var s string
				if json.Unmarshal(e.Text, &s) == nil {
					parts = append(parts, t.clean(s))
				}
			}
			lines = append(lines, strings.Join(parts, " "))
		case "input":
			if b.Label != nil {
				lines = append(lines, t.clean(b.Label.Text)+": ____")
			}
		case "divider":
			lines = append(lines, "────────")
		case "actions":
			var buttons []string
			for _, e := range b.Elements {
				var o textObj
				if json.Unmarshal(e.Text, &o) == nil {
					buttons = append(buttons, "["+o.Text+"]")
				}
			}
			lines = append(lines, strings.Join(buttons, " "))
		}
	}
	return lines
}

var (
	mention = regexp.MustCompile(`<[@#!]([^>|]+)(\|[^>]*)?>`)
	bold    = regexp.MustCompile(`\*([^*\n]+)\*`)
	emoji   = strings.NewReplacer(
		":hourglass_flowing_sand:", "⏳", ":white_check_mark:", "✅", ":no_entry:", "⛔", ":clock5:", "🕔",
		":heavy_multiplication_x:", "✖", ":gear:", "⚙", ":inbox_tray:", "📥", ":large_green_circle:", "🟢",
		":wastebasket:", "🗑", ":white_circle:", "⚪", ":x:", "❌", ":alarm_clock:", "⏰", ":bell:", "🔔",
		":rotating_light:", "🚨", ":mag:", "🔍", ":warning:", "⚠", ":white_square:", "⬜")
	unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "```", "", "`", "")
)

// clean turns Slack mrkdwn into plain text: mentions become @handles, bold loses its stars,
// emoji codes become emoji, code marks go.
func (t *thread) clean(s string) string {
	s = mention.ReplaceAllStringFunc(s, func(m string) string {
		id := mention.FindStringSubmatch(m)[1]
		id = strings.TrimPrefix(id, "subteam^")
		return t.name(id)
	})
	s = bold.ReplaceAllString(s, "$1")
	return unescape.Replace(emoji.Replace(s))
}

// name is how an ID reads: @handle, #channel, or the ID itself.
func (t *thread) name(id string) string {
	if n, ok := t.names[id]; ok {
		return n
	}
	return id
}

// home prints the App Home view last published for user.
func (t *thread) home(user string) error {
	raw, ok := t.fake.HomeView(user)
	if !ok {
		return fmt.Errorf("no App Home was published for %s", t.name(user))
	}
	var view struct {
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &view); err != nil {
		return fmt.Errorf("read the App Home of %s: %w", t.name(user), err)
	}
	t.print("[App Home of "+t.name(user)+"]", "", string(view.Blocks))
	return nil
}
