"""IEEE-754 binary32 building blocks: golden models (``model``, numpy only)
and combinational Amaranth components (``cmp``, ``mul``, ``add``), each
with an ``ftz`` option. ``common`` holds the datapath pieces they share
(unpacking, leading-zero count, round-to-nearest-even and packing);
``vectors`` the special and random operands the testbenches use."""
