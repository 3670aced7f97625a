"""What the operator's pages share (agencies, catalog, audit, events, rules, SMS templates,
registry): calling an API as the signed-in person, an API's problem shown as a page, local
times and the next-page link. No routes of its own."""
