"""Speech-intelligence providers (Symbl.ai, AssemblyAI) behind one interface."""
