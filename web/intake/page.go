package intake

import "html/template"

// texts are the page's words, in Dutch and English.
var texts = map[string]map[string]string{
	"en": {
		"title":               "Make a request about your personal data",
		"intro":               "Did you chat with a website that uses our chat assistant? Here you can ask for access to, correction or erasure of your data, or exercise another right. We forward your request to that organisation, which decides on it.",
		"customer":            "Organisation (customer id, shown on its privacy page)",
		"type":                "What do you ask for?",
		"email":               "Your e-mail address (we send a code to it)",
		"ref":                 "Visitor reference from the chat, if you have it (optional)",
		"details":             "Anything else the organisation should know (optional)",
		"incorrect":           "For a correction: which of your data is wrong?",
		"correct":             "For a correction: what is the correct value?",
		"grounds":             "For an objection: why do you object, given your particular situation?",
		"invalid_incorrect":   "For a correction, say which data is wrong (at most 4000 characters).",
		"invalid_correct":     "For a correction, give the correct value (at most 4000 characters).",
		"invalid_grounds":     "For an objection, give your grounds (at most 4000 characters).",
		"send":                "Send code",
		"code_intro":          "We sent a six-digit code to your e-mail address. It is valid for 15 minutes; you can try three times.",
		"code":                "Code",
		"verify":              "Confirm request",
		"done":                "Your request was received and forwarded to the organisation you chatted with. Your reference:",
		"other_lang":          "Nederlands",
		"other_code":          "nl",
		"invalid":             "Please check this field.",
		"invalid_customer":    "This is not an organisation we know. Copy the id from its privacy page.",
		"invalid_type":        "Choose one of the rights.",
		"invalid_email":       "Enter a valid e-mail address.",
		"invalid_subject_ref": "This reference is too long.",
		"invalid_details":     "This text is too long.",
		"invalid_code":        "The code is wrong or has expired. After three wrong codes, start again.",
		"bad_form":            "The form was too large or malformed.",
		"expired_form":        "The form expired. Please fill it in again.",
		"throttled":           "Too many requests. Please try again later.",
		"unavailable":         "Requests cannot be taken right now. Please try again later.",
		"access":              "Access to my data", "rectification": "Correction of my data", "erasure": "Erasure of my data",
		"restriction": "Restriction of processing", "portability": "My data in a portable format", "objection": "Objection to processing",
	},
	"nl": {
		"title":               "Een verzoek over uw persoonsgegevens",
		"intro":               "Hebt u gechat met een website die onze chatassistent gebruikt? Hier vraagt u om inzage, correctie of verwijdering van uw gegevens, of oefent u een ander recht uit. Wij sturen uw verzoek door aan die organisatie, die erover beslist.",
		"customer":            "Organisatie (klantnummer, vermeld op haar privacypagina)",
		"type":                "Waar vraagt u om?",
		"email":               "Uw e-mailadres (wij sturen er een code naartoe)",
		"ref":                 "Bezoekerskenmerk uit de chat, als u dat hebt (niet verplicht)",
		"details":             "Wat de organisatie verder moet weten (niet verplicht)",
		"incorrect":           "Bij correctie: welke gegevens zijn onjuist?",
		"correct":             "Bij correctie: wat is de juiste waarde?",
		"grounds":             "Bij bezwaar: waarom maakt u bezwaar, gezien uw specifieke situatie?",
		"invalid_incorrect":   "Vermeld bij correctie welke gegevens onjuist zijn (hoogstens 4000 tekens).",
		"invalid_correct":     "Vermeld bij correctie de juiste waarde (hoogstens 4000 tekens).",
		"invalid_grounds":     "Vermeld bij bezwaar uw redenen (hoogstens 4000 tekens).",
		"send":                "Code versturen",
		"code_intro":          "Wij hebben een code van zes cijfers naar uw e-mailadres gestuurd. De code is 15 minuten geldig; u kunt het drie keer proberen.",
		"code":                "Code",
		"verify":              "Verzoek bevestigen",
		"done":                "Uw verzoek is ontvangen en doorgestuurd aan de organisatie waarmee u chatte. Uw kenmerk:",
		"other_lang":          "English",
		"other_code":          "en",
		"invalid":             "Controleer dit veld.",
		"invalid_customer":    "Deze organisatie kennen wij niet. Neem het nummer over van haar privacypagina.",
		"invalid_type":        "Kies een van de rechten.",
		"invalid_email":       "Vul een geldig e-mailadres in.",
		"invalid_subject_ref": "Dit kenmerk is te lang.",
		"invalid_details":     "Deze tekst is te lang.",
		"invalid_code":        "De code is onjuist of verlopen. Na drie onjuiste codes begint u opnieuw.",
		"bad_form":            "Het formulier was te groot of onjuist.",
		"expired_form":        "Het formulier is verlopen. Vul het opnieuw in.",
		"throttled":           "Te veel verzoeken. Probeer het later opnieuw.",
		"unavailable":         "Er kunnen nu geen verzoeken worden aangenomen. Probeer het later opnieuw.",
		"access":              "Inzage in mijn gegevens", "rectification": "Correctie van mijn gegevens", "erasure": "Verwijdering van mijn gegevens",
		"restriction": "Beperking van de verwerking", "portability": "Mijn gegevens in een overdraagbaar formaat", "objection": "Bezwaar tegen de verwerking",
	},
}

// areaView is one optional text area of the form.
type areaView struct {
	Name, Value, Error string
	T                  map[string]string
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"t": func(m map[string]string, k string) string { return m[k] },
	"area": func(name, value, err string, t map[string]string) areaView {
		return areaView{Name: name, Value: value, Error: err, T: t}
	},
}).Parse(`{{define "area"}}<label for="{{.Name}}">{{t .T .Name}}</label>
<textarea id="{{.Name}}" name="{{.Name}}" rows="3" maxlength="4000"{{if .Error}} aria-invalid="true" aria-describedby="{{.Name}}-error"{{end}}>{{.Value}}</textarea>
{{with .Error}}<p id="{{$.Name}}-error" class="error">{{.}}</p>{{end}}{{end}}<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{t .T "title"}}</title>
<style nonce="{{.Nonce}}">
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
label{display:block;margin-top:1rem;font-weight:600}
input,select,textarea{width:100%;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px;box-sizing:border-box}
input:focus,select:focus,textarea:focus,button:focus{outline:3px solid #1d4ed8;outline-offset:2px}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px}
.error{color:#b91c1c;font-weight:600}
.notice{border-left:4px solid #b91c1c;padding:.5rem 1rem;background:#fef2f2}
</style>
</head>
<body>
<main>
<p><a href="/requests?lang={{t .T "other_code"}}" hreflang="{{t .T "other_code"}}" lang="{{t .T "other_code"}}">{{t .T "other_lang"}}</a></p>
<h1>{{t .T "title"}}</h1>
{{if .Message}}<p class="notice" role="alert">{{.Message}}</p>{{end}}
{{if eq .Step "form"}}
<p>{{t .T "intro"}}</p>
<form method="post" action="/requests" novalidate>
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="lang" value="{{.Lang}}">
<label for="customer">{{t .T "customer"}}</label>
<input id="customer" name="customer" value="{{.Customer}}" required maxlength="64" autocomplete="off"{{if .Errors.customer}} aria-invalid="true" aria-describedby="customer-error"{{end}}>
{{with .Errors.customer}}<p id="customer-error" class="error">{{.}}</p>{{end}}
<label for="type">{{t .T "type"}}</label>
<select id="type" name="type" required{{if .Errors.type}} aria-invalid="true" aria-describedby="type-error"{{end}}>
{{$sel := .Type}}{{$t := .T}}{{range .Types}}<option value="{{.}}"{{if eq (print .) $sel}} selected{{end}}>{{t $t (print .)}}</option>
{{end}}</select>
{{with .Errors.type}}<p id="type-error" class="error">{{.}}</p>{{end}}
<label for="email">{{t .T "email"}}</label>
<input id="email" name="email" type="email" value="{{.Email}}" required maxlength="254" autocomplete="email"{{if .Errors.email}} aria-invalid="true" aria-describedby="email-error"{{end}}>
{{with .Errors.email}}<p id="email-error" class="error">{{.}}</p>{{end}}
<label for="subject_ref">{{t .T "ref"}}</label>
<input id="subject_ref" name="subject_ref" value="{{.Ref}}" maxlength="128" autocomplete="off"{{if .Errors.subject_ref}} aria-invalid="true" aria-describedby="ref-error"{{end}}>
{{with .Errors.subject_ref}}<p id="ref-error" class="error">{{.}}</p>{{end}}
<label for="details">{{t .T "details"}}</label>
<textarea id="details" name="details" rows="4" maxlength="4000"{{if .Errors.details}} aria-invalid="true" aria-describedby="details-error"{{end}}>{{.Details}}</textarea>
{{with .Errors.details}}<p id="details-error" class="error">{{.}}</p>{{end}}
{{template "area" (area "incorrect" .Incorrect (index .Errors "incorrect") .T)}}
{{template "area" (area "correct" .Correct (index .Errors "correct") .T)}}
{{template "area" (area "grounds" .Grounds (index .Errors "grounds") .T)}}
<button type="submit">{{t .T "send"}}</button>
</form>
{{else if eq .Step "code"}}
<p>{{t .T "code_intro"}}</p>
<form method="post" action="/requests/verify" novalidate>
<input type="hidden" name="token" value="{{.Token}}">
<input type="hidden" name="lang" value="{{.Lang}}">
<input type="hidden" name="verification_id" value="{{.VerificationID}}">
<label for="code">{{t .T "code"}}</label>
<input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code"{{if .Errors.code}} aria-invalid="true" aria-describedby="code-error"{{end}}>
{{with .Errors.code}}<p id="code-error" class="error" role="alert">{{.}}</p>{{end}}
<button type="submit">{{t .T "verify"}}</button>
</form>
{{else}}
<p role="status">{{t .T "done"}} <strong>{{.RequestID}}</strong></p>
{{end}}
</main>
</body>
</html>
`))
