"""Direct-lookup units (``impl: "table"``): the output code of every input code."""
