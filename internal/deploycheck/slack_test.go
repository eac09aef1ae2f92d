package deploycheck

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"go.yaml.in/yaml/v4"

	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
)

// webAPI maps each slack-go method clonebot may call to the Web API method it sends (checked
// against the offline Slack by TestSlackMethodTable) and the bot scopes that method needs
// (Slack's method reference). call makes the call with throwaway arguments.
var webAPI = map[string]struct {
	method string
	scopes []string
	call   func(context.Context, *slack.Client) error
}{
	"PostMessageContext": {"chat.postMessage", []string{"chat:write"}, func(ctx context.Context, c *slack.Client) error {
		_, _, err := c.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
		return err
	}},
	"PostEphemeralContext": {"chat.postEphemeral", []string{"chat:write"}, func(ctx context.Context, c *slack.Client) error {
		_, err := c.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("x", false))
		return err
	}},
	"UpdateMessageContext": {"chat.update", []string{"chat:write"}, func(ctx context.Context, c *slack.Client) error {
		_, _, _, err := c.UpdateMessageContext(ctx, "C1", "1.2", slack.MsgOptionText("x", false))
		return err
	}},
	"OpenViewContext": {"views.open", nil, func(ctx context.Context, c *slack.Client) error {
		_, err := c.OpenViewContext(ctx, "T1", slack.ModalViewRequest{Type: slack.VTModal})
		return err
	}},
	"PublishViewContext": {"views.publish", nil, func(ctx context.Context, c *slack.Client) error {
		_, err := c.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: slack.HomeTabViewRequest{Type: slack.VTHomeTab}})
		return err
	}},
	"GetUserGroupsContext": {"usergroups.list", []string{"usergroups:read"}, func(ctx context.Context, c *slack.Client) error {
		_, err := c.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
		return err
	}},
	"GetUserInfoContext": {"users.info", []string{"users:read"}, func(ctx context.Context, c *slack.Client) error {
		_, err := c.GetUserInfoContext(ctx, "U1")
		return err
	}},
	// Public channels need channels:read, private ones groups:read; direct messages (im:read,
	// mpim:read) are never looked up (bot.Directory.ChannelName).
	"GetConversationInfoContext": {"conversations.info", []string{"channels:read", "groups:read"}, func(ctx context.Context, c *slack.Client) error {
		_, err := c.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C1"})
		return err
	}},
}

// featureScopes are scopes that come with a feature of the manifest, not a Web API call.
var featureScopes = []string{"commands"} // the /clone slash command

// isWebAPICall says whether name is a slack.Client method that calls the Web API: the
// Context variant of one, or a method with a Context variant.
func isWebAPICall(name string) bool {
	typ := reflect.TypeOf(&slack.Client{})
	_, direct := typ.MethodByName(name)
	_, variant := typ.MethodByName(name + "Context")
	return (direct && strings.HasSuffix(name, "Context")) || variant
}

// calledSlackMethods parses the non-test Go files of the packages that hold the bot's Slack
// client (bot/ but for the offline fake, cmd/) and returns every slack.Client Web API method
// they call, by name.
func calledSlackMethods(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, root := range []string{"../../bot", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "slackfake" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && isWebAPICall(sel.Sel.Name) {
						out[sel.Sel.Name] = true
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSlackMethodTable: each slack-go method of the table sends the Web API method the table
// says (as the offline Slack records it).
func TestSlackMethodTable(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	api := slack.New("xoxb-deploycheck", slack.OptionAPIURL(fake.APIURL()))
	for _, name := range slices.Sorted(maps.Keys(webAPI)) {
		before := len(fake.Calls())
		_ = webAPI[name].call(context.Background(), api) // the fake's answer does not matter
		calls := fake.Calls()[before:]
		if len(calls) != 1 || calls[0].Method != webAPI[name].method {
			t.Errorf("%s sent %+v, want one %s", name, calls, webAPI[name].method)
		}
	}
}

// manifest is the part of a Slack app manifest clonebot's manifests use; any other key fails
// the decoding.
type manifest struct {
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		BackgroundColor string `yaml:"background_color"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			URL          string `yaml:"url"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestSlackManifestsAskExactlyTheScopesUsed: both manifests ask for the scopes of the Web API
// methods the code calls and of its features, no more and no fewer; the events are those the
// bot handles; Socket Mode needs no URL and HTTP mode has the transport's three.
func TestSlackManifestsAskExactlyTheScopesUsed(t *testing.T) {
	called := calledSlackMethods(t)
	if len(called) < 5 {
		t.Fatalf("found only %v in the code", called)
	}
	want := map[string]bool{}
	for _, s := range featureScopes {
		want[s] = true
	}
	for name := range called {
		entry, ok := webAPI[name]
		if !ok {
			t.Errorf("the code calls slack.Client.%s: add it, its Web API method and its scopes to webAPI", name)
			continue
		}
		for _, s := range entry.scopes {
			want[s] = true
		}
	}
	for name := range webAPI {
		if !called[name] {
			t.Errorf("webAPI lists %s, which the code no longer calls: remove it", name)
		}
	}
	bot, err := os.ReadFile("../../bot/bot.go")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		socket  bool
		urlPath map[string]string // which URL → the transport path it must end with
	}{
		{"slack-app-manifest-socket.yaml", true, nil},
		{"slack-app-manifest-http.yaml", false, map[string]string{
			"slash command": transport.PathCommands, "interactivity": transport.PathInteractions, "events": transport.PathEvents,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := readManifest(t, filepath.Join("../../deploy", tt.file))
			got := map[string]bool{}
			for _, s := range m.OAuthConfig.Scopes.Bot {
				got[s] = true
			}
			if !maps.Equal(got, want) {
				t.Errorf("bot scopes %v, want exactly %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			if !slices.Equal(m.Settings.EventSubscriptions.BotEvents, []string{"app_home_opened"}) || !bytes.Contains(bot, []byte("slackevents.AppHomeOpenedEvent")) {
				t.Errorf("bot events %v, want app_home_opened, which bot.Event handles", m.Settings.EventSubscriptions.BotEvents)
			}
			if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/clone" || !m.Settings.Interactivity.IsEnabled {
				t.Errorf("want the /clone command and interactivity")
			}
			if m.Settings.SocketModeEnabled != tt.socket {
				t.Errorf("socket_mode_enabled %v, want %v", m.Settings.SocketModeEnabled, tt.socket)
			}
			urls := map[string]string{
				"slash command": m.Features.SlashCommands[0].URL,
				"interactivity": m.Settings.Interactivity.RequestURL,
				"events":        m.Settings.EventSubscriptions.RequestURL,
			}
			for what, u := range urls {
				switch path := tt.urlPath[what]; {
				case path == "" && u != "":
					t.Errorf("%s URL %q in a Socket Mode manifest", what, u)
				case path != "" && (!strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, path)):
					t.Errorf("%s URL %q, want https://<host>%s", what, u, path)
				}
			}
		})
	}
}
