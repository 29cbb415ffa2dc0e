"""Third-party formats -> funnelwatch contracts.

Code here turns what other systems send (CRM webhooks, landing-page forms carrying a
contact's e-mail or phone) into funnelwatch's own event contracts. Nothing in this
package stores or logs a raw e-mail address or phone number: contacts leave it only as
salted hashes (:mod:`funnelwatch.connectors.contacts`).
"""
