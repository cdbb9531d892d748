package dsr

import "fmt"

// texts are the e-mails to requesters, in Dutch and English.
var texts = map[string]map[string]string{
	"en": {
		"code_subject":      "Your verification code for your request to %s",
		"code_body":         "Your verification code is %s. It is valid for %d minutes.\n\nEnter it on the page where you filed your request. If you did not file a request, ignore this e-mail: nothing happens without the code.\n",
		"forwarded_subject": "Your request was forwarded to %s",
		"forwarded_body":    "Your request was forwarded to %s, who decides on it (GDPR Art. 12). Its reference is %s.\n",
		"rejected_subject":  "Your request to %s was declined",
		"rejected_body":     "%s declined your request %s. The reason it gave: %s\n",
		"extended_subject":  "Your request to %s takes longer",
		"extended_body":     "%s extended the deadline of your request %s by %d month(s) (GDPR Art. 12(3)). The reason it gave: %s\n",
	},
	"nl": {
		"code_subject":      "Uw verificatiecode voor uw verzoek aan %s",
		"code_body":         "Uw verificatiecode is %s. De code is %d minuten geldig.\n\nVul de code in op de pagina waar u uw verzoek indiende. Hebt u geen verzoek ingediend, dan kunt u deze e-mail negeren: zonder de code gebeurt er niets.\n",
		"forwarded_subject": "Uw verzoek is doorgestuurd aan %s",
		"forwarded_body":    "Uw verzoek is doorgestuurd aan %s, die erover beslist (AVG art. 12). Het kenmerk is %s.\n",
		"rejected_subject":  "Uw verzoek aan %s is afgewezen",
		"rejected_body":     "%s heeft uw verzoek %s afgewezen. De opgegeven reden: %s\n",
		"extended_subject":  "Uw verzoek aan %s duurt langer",
		"extended_body":     "%s heeft de termijn van uw verzoek %s met %d maand(en) verlengd (AVG art. 12 lid 3). De opgegeven reden: %s\n",
	},
}

// subjectText renders the text key in lang (English when unknown).
func subjectText(lang, key string, args ...any) string {
	t, ok := texts[lang]
	if !ok {
		t = texts["en"]
	}
	return fmt.Sprintf(t[key], args...)
}
