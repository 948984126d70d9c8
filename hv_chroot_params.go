package main

// chrootParamChecks are the PARAMETERS of Ganeti 3.0's ChrootManager. This
// node runs no chroot instances (its hvModules entry is this table alone,
// which hypervisorFor refuses); it checks their parameters as Ganeti does
// on a node.
var chrootParamChecks = []hvParamCheck{
	hvSyntax("init_script", true, hvNormAbsPath, hvAbsPathWhy),
}
