package main

// clientCommands are the REST client verbs: run, list, cancel, info.
func clientCommands() []command { return nil }
