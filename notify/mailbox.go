package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Mailbox is a local mailbox that takes the place of an SMTP relay in
// development (`verwerker dev` without SMTP_URL), so that no e-mail is lost:
// the outbox delivers every e-mail into it as a file, <message id>.eml (the
// RFC 5322 message as it would have been sent), and the developer reads them
// through the API (GET /v1/dev/mailbox) or with any mail tool. Nothing leaves
// the machine: never use it in production.
type Mailbox struct {
	dir string
}

// OpenMailbox returns the mailbox in dir, creating the directory (mode
// 0700: the mails hold addresses) if it does not exist.
func OpenMailbox(dir string) (*Mailbox, error) {
	if dir == "" {
		return nil, errors.New("notify: mailbox: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: mailbox: %w", err)
	}
	return &Mailbox{dir: dir}, nil
}

// Dir returns the mailbox's directory.
func (m *Mailbox) Dir() string { return m.dir }

// put stores the rendered message with outbox id id. Delivering the same
// message again replaces the file: one file per message, however often it
// is attempted.
func (m *Mailbox) put(id string, msg []byte) error {
	f, err := os.CreateTemp(m.dir, ".incoming-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), filepath.Join(m.dir, id+".eml"))
}

// Mail is an e-mail in a Mailbox.
type Mail struct {
	// ID is the outbox message id (see the tenant's delivery log).
	ID string `json:"id"`
	// MessageID is the Message-ID header.
	MessageID string `json:"message_id"`
	// From, To, Subject and Date are the headers, decoded.
	From    string    `json:"from"`
	To      []string  `json:"to"`
	Subject string    `json:"subject"`
	Date    time.Time `json:"date"`
	// Body is the plain-text body, decoded.
	Body string `json:"body"`
}

// List returns the mails in the mailbox, newest first, at most limit of
// them (100 if limit <= 0).
func (m *Mailbox) List(limit int) ([]Mail, error) {
	if limit <= 0 {
		limit = 100
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("notify: mailbox: %w", err)
	}
	out := []Mail{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".eml") || strings.HasPrefix(name, ".") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(m.dir, name))
		if err != nil {
			return nil, fmt.Errorf("notify: mailbox: %w", err)
		}
		ml, err := parseMail(strings.TrimSuffix(name, ".eml"), raw)
		if err != nil {
			continue // not one of ours
		}
		out = append(out, ml)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Date.Equal(out[j].Date) {
			return out[i].Date.After(out[j].Date)
		}
		return out[i].ID > out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func parseMail(id string, raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	h := msg.Header
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		subject = h.Get("Subject")
	}
	ml := Mail{ID: id, MessageID: h.Get("Message-ID"), From: h.Get("From"), Subject: subject, To: []string{}}
	if list, err := h.AddressList("To"); err == nil {
		for _, a := range list {
			ml.To = append(ml.To, a.Address)
		}
	}
	if d, err := h.Date(); err == nil {
		ml.Date = d.UTC()
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return Mail{}, err
	}
	ml.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
	return ml, nil
}
