"""Reviews: typed findings (each with evidence, a severity and a fix) and the checks that produce them."""
