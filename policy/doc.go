// Package policy decides what may happen: who may call which operation in
// which tenant's domain (role-based access control), and, in later
// versions, whether a processing operation is inside the customer's
// processing agreement.
//
// It serves GDPR Art. 32(1)(b) and (4) (access restricted to authorised
// staff; company terms 000 art. 9.1) and Art. 28(3)(b) (persons authorised
// to process are bound to it).
package policy
