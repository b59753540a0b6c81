"""Assisted field mapping: for an Epicor (or Stripe) target field, the three likeliest source fields.

Policy: a suggestion is advice to a person, never applied by itself. It is computed offline, with no
network and no model at run time, in well under a second per document, from what is knowable here:

* the names on both sides (``names``): tokenised, Epicor's abbreviations expanded, a curated concept
  dictionary of Epicor columns and Stripe fields (``postal_code`` is ``Zip``, ``line1`` is ``Address1``),
  and rapidfuzz's token similarity for the names the dictionary does not know (a site's metadata keys);
* the sample values (``values``): e-mail, phone, postal code, ISO country and currency, Unix times,
  integer minor units, Stripe ids by prefix;
* the target column's type, and the address a field belongs to (billing or shipping);
* what this site accepted and rejected before (``learning``).

``rank`` scores and orders; ``catalogue`` knows the Epicor tables, the Stripe objects and the sources a
flow offers; ``service`` is what the command line and the web call. Always scoped to one source object and
one target table: unscoped matching is much weaker (study notes in the README, "Assisted mapping").
"""
