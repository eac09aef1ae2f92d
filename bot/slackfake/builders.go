package slackfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/bot/transport"
)

// Content types of the bodies Slack sends.
const (
	ContentTypeForm = "application/x-www-form-urlencoded"
	ContentTypeJSON = "application/json"
)

// SlashCommand returns the /clone command userID typed in channelID, with a response_url and
// a trigger_id on this fake.
func (s *Server) SlashCommand(userID, channelID, text string) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: TeamID, TeamDomain: teamName, ChannelID: channelID, ChannelName: s.channelName(channelID),
		UserID: userID, UserName: s.userName(userID), Command: "/clone", Text: text,
		ResponseURL: s.NewResponseURL(), TriggerID: s.TriggerID(), APIAppID: AppID,
	}
}

// BlockAction returns the block_actions interaction of userID clicking the button actionID
// (with value) on the message at messageTS in channelID.
func (s *Server) BlockAction(userID, channelID, messageTS, actionID, value string) slack.InteractionCallback {
	cb := slack.InteractionCallback{
		Type: slack.InteractionTypeBlockActions, ResponseURL: s.NewResponseURL(), TriggerID: s.TriggerID(),
		APIAppID: AppID, MessageTs: messageTS,
		Container: slack.Container{Type: "message", MessageTs: messageTS, ChannelID: channelID},
	}
	cb.Team.ID = TeamID
	cb.User.ID, cb.User.Name = userID, s.userName(userID)
	cb.Channel.ID, cb.Channel.Name = channelID, s.channelName(channelID)
	cb.Message.Timestamp = messageTS
	cb.ActionTs = s.actionTS()
	cb.ActionCallback.BlockActions = []*slack.BlockAction{{
		ActionID: actionID, BlockID: "actions", Type: "button", Value: value, ActionTs: cb.ActionTs,
	}}
	return cb
}

// ViewSubmission returns the view_submission interaction of userID submitting the modal
// callbackID with privateMetadata and the input values (block ID → action ID → value).
func (s *Server) ViewSubmission(userID, callbackID, privateMetadata string, values map[string]map[string]slack.BlockAction) slack.InteractionCallback {
	cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, TriggerID: s.TriggerID(), APIAppID: AppID}
	cb.Team.ID = TeamID
	cb.User.ID, cb.User.Name = userID, s.userName(userID)
	cb.View.ID, cb.View.Type, cb.View.CallbackID = "V0MODAL", slack.VTModal, callbackID
	cb.View.PrivateMetadata, cb.View.TeamID = privateMetadata, TeamID
	cb.View.State = &slack.ViewState{Values: values}
	return cb
}

func (s *Server) userName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		return u.Name
	}
	return id
}

func (s *Server) channelName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[id]; ok {
		return c.Name
	}
	return id
}

// TriggerID hands out a new trigger_id, as an interaction carries one: it opens one view
// within TriggerTTL.
func (s *Server) TriggerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responseSeq++
	id := fmt.Sprintf("%d.%s.trigger", s.responseSeq, TeamID)
	s.triggers[id] = &trigger{issued: s.now()}
	return id
}

func (s *Server) actionTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTSLocked()
}

// CommandBody is the form body Slack posts to /slack/commands for cmd.
func CommandBody(cmd slack.SlashCommand) []byte {
	v := url.Values{}
	v.Set("token", "verification-token-unused")
	v.Set("team_id", cmd.TeamID)
	v.Set("team_domain", cmd.TeamDomain)
	v.Set("channel_id", cmd.ChannelID)
	v.Set("channel_name", cmd.ChannelName)
	v.Set("user_id", cmd.UserID)
	v.Set("user_name", cmd.UserName)
	v.Set("command", cmd.Command)
	v.Set("text", cmd.Text)
	v.Set("api_app_id", cmd.APIAppID)
	v.Set("is_enterprise_install", strconv.FormatBool(cmd.IsEnterpriseInstall))
	v.Set("response_url", cmd.ResponseURL)
	v.Set("trigger_id", cmd.TriggerID)
	return []byte(v.Encode())
}

// InteractionBody is the form body Slack posts to /slack/interactions for cb:
// payload=<JSON>.
func InteractionBody(cb slack.InteractionCallback) []byte {
	js, err := json.Marshal(&cb)
	if err != nil {
		panic(fmt.Sprintf("slackfake: interaction does not marshal: %v", err))
	}
	return []byte(url.Values{"payload": {string(js)}}.Encode())
}

// EventBody is the JSON body of an Events API event_callback with eventID wrapping the inner
// event (a struct or map with at least a "type").
func EventBody(eventID string, inner any) []byte {
	js, err := json.Marshal(map[string]any{
		"token": "verification-token-unused", "team_id": TeamID, "api_app_id": AppID,
		"event": inner, "type": "event_callback", "event_id": eventID, "event_time": 1700000000,
		"authorizations": []map[string]any{{"team_id": TeamID, "user_id": BotUser, "is_bot": true}},
	})
	if err != nil {
		panic(fmt.Sprintf("slackfake: event does not marshal: %v", err))
	}
	return js
}

// AppHomeOpened is the inner event of userID opening the bot's App Home tab.
func AppHomeOpened(userID string) map[string]any {
	return map[string]any{"type": "app_home_opened", "user": userID, "channel": "D0" + userID,
		"tab": "home", "event_ts": "1700000000.000001"}
}

// URLVerificationBody is the JSON body of the url_verification handshake.
func URLVerificationBody(challenge string) []byte {
	js, _ := json.Marshal(map[string]string{"token": "verification-token-unused", "challenge": challenge,
		"type": "url_verification"})
	return js
}

// SignedRequest returns a POST of body to url signed with secret at ts, as Slack sends it;
// the content type is JSON when body starts with '{', a form otherwise.
func SignedRequest(ctx context.Context, url, secret string, ts time.Time, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build signed request: %w", err)
	}
	req.Header.Set("Content-Type", ContentTypeForm)
	if len(body) > 0 && body[0] == '{' {
		req.Header.Set("Content-Type", ContentTypeJSON)
	}
	tsHeader, sig := transport.Sign(secret, ts, body)
	req.Header.Set(transport.HeaderTimestamp, tsHeader)
	req.Header.Set(transport.HeaderSignature, sig)
	return req, nil
}
