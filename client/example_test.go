package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/verwerker/verwerker/client"
)

// store stands for the chat service's own storage (verwerker's records API,
// encrypted under d.Obligations.KeyRef, in a later version).
func store(message string, d *client.Decision) error {
	fmt.Printf("storing under %s until %s\n", d.Obligations.KeyRef, d.Obligations.DeletionDeadline)
	return nil
}

// The chat service asks before it stores a visitor's message, and stores
// only what is allowed, keeping the obligations the answer carries.
func Example() {
	c := client.New("http://127.0.0.1:8080", "tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y", "vwk_...", nil)
	d, err := c.Decide(context.Background(), client.Question{
		Category: "chat.message", Purpose: "service.delivery", Region: "nl", SubjectRef: "visitor-7f3a9c",
	})
	if err != nil {
		log.Fatal(err) // verwerker unreachable or the question invalid: store nothing
	}
	if !d.Allow {
		for _, r := range d.Reasons {
			log.Printf("not stored (%s, %s): %s", r.Code, r.Ref, r.Message)
		}
		return
	}
	if err := store("Hallo, ik heb een vraag over mijn bestelling", d); err != nil {
		log.Fatal(err)
	}
	if d.Must("delete_asap") {
		log.Printf("a suspected minor's data: delete it by %s at the latest (24 hours; decision %s)", d.Obligations.DeletionDue, d.DecisionID)
	}
}
