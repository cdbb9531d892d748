package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"time"

	"github.com/verwerker/verwerker"
)

// smtpRelay is the parsed SMTP_URL.
type smtpRelay struct {
	host, port string
	user, pass string
}

func parseSMTPURL(raw string) (*smtpRelay, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		// Never quote the URL: it may hold a password.
		return nil, verwerker.Errorf(verwerker.EINVALID, "notify: SMTP_URL must look like smtp://[user:password@]host:port")
	}
	r := &smtpRelay{host: u.Hostname(), port: u.Port()}
	if r.port == "" {
		r.port = "25"
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.pass, _ = u.User.Password()
	}
	return r, nil
}

// sendMail delivers one attempt of rendered e-mail id through the relay,
// or into the development mailbox.
func (o *Outbox) sendMail(ctx context.Context, id string, to []string, msg []byte) result {
	r := o.smtp
	if r == nil && o.mailbox != nil {
		if err := o.mailbox.put(id, msg); err != nil {
			return result{code: "mailbox_failed", err: err}
		}
		return result{}
	}
	if r == nil {
		return result{code: "smtp_not_configured"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(r.host, r.port))
	if err != nil {
		return result{code: "smtp_unavailable"}
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, r.host)
	if err != nil {
		conn.Close()
		return smtpResult(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: r.host, MinVersion: tls.VersionTLS12}); err != nil {
			return smtpResult(err)
		}
	}
	if r.user != "" {
		if err := c.Auth(smtp.PlainAuth("", r.user, r.pass, r.host)); err != nil {
			return smtpResult(err)
		}
	}
	from := o.cfg.MailFrom
	if a, err := parseAddress(from); err == nil {
		from = a
	}
	if err := c.Mail(from); err != nil {
		return smtpResult(err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			return smtpResult(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpResult(err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpResult(err)
	}
	if err := w.Close(); err != nil {
		return smtpResult(err)
	}
	_ = c.Quit()
	return result{smtpCode: 250}
}

// smtpResult turns an SMTP failure into a result with its reply code; the
// reply text may echo addresses, so it is dropped.
func smtpResult(err error) result {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return result{code: "smtp_" + strconv.Itoa(tp.Code), smtpCode: tp.Code}
	}
	return result{code: "smtp_failed"}
}
