package platform

// LogMaxSizeUnlimited is the app's log max-size (logs:set max-size
// unlimited, package applogs) that turns the rotation off.
const LogMaxSizeUnlimited = "unlimited"
