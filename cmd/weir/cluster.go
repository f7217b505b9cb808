package main

// clusterCommands start the cluster processes: jobmanager, taskmanager, local.
func clusterCommands() []command { return nil }
