// The prefs of a quiet, loopback-only Firefox ESR 153 test profile pointed at one Foxden
// origin (firefox-client.md 5.2), written out as the profile's user.js. Every identity pref is
// a user pref on purpose: Marionette's "recommended preferences" replace any identity pref
// left at its default, e.g. identity.fxaccounts.auth.uri (5.3).

export type PrefValue = string | number | boolean;

/** Foxden's single-origin layout (firefox-client.md 1.2); `origin` has no trailing slash. */
function accountPrefs(origin: string): Record<string, PrefValue> {
  return {
    'identity.fxaccounts.remote.root': `${origin}/`,
    'identity.fxaccounts.auth.uri': `${origin}/auth/v1`,
    'identity.fxaccounts.remote.oauth.uri': `${origin}/oauth/v1`,
    'identity.fxaccounts.remote.profile.uri': `${origin}/profile/v1`,
    'identity.sync.tokenserver.uri': `${origin}/token/1.0/sync/1.5`,
    'identity.fxaccounts.allowHttp': true,
    'identity.fxaccounts.pairing.enabled': false,
    'identity.fxaccounts.telemetry.clientAssociationPing.enabled': false,
    'identity.fxaccounts.toolbar.pxiToolbarEnabled': false,
  };
}

/** Push stays enabled but never connects: devices register without a push callback (3.3). */
const PUSH: Record<string, PrefValue> = {
  'dom.push.connection.enabled': false,
  'dom.push.serverURL': '',
};

const UPDATES_STUDIES_TELEMETRY: Record<string, PrefValue> = {
  'app.update.disabledForTesting': true,
  'app.update.auto': false,
  'app.update.checkInstallTime': false,
  'app.normandy.enabled': false,
  'app.normandy.api_url': '',
  'app.shield.optoutstudies.enabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.usage.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'nimbus.profilesdatastoreservice.enabled': false,
};

const NETWORK_NOISE: Record<string, PrefValue> = {
  'network.captive-portal-service.enabled': false,
  'captivedetect.canonicalURL': '',
  'network.connectivity-service.enabled': false,
  'network.trr.mode': 5,
  'doh-rollout.disable-heuristics': true,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'browser.urlbar.speculativeConnect.enabled': false,
  'browser.places.speculativeConnect.enabled': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.google5.updateURL': '',
  'browser.search.update': false,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'geo.provider.network.url': '',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'extensions.blocklist.enabled': false,
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-manager.url': '',
  'browser.discovery.enabled': false,
  'browser.urlbar.suggest.searches': false,
  'signon.management.page.breach-alerts.enabled': false,
  // A dead loopback port; honoured only with MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 in the env.
  'services.settings.server': 'http://127.0.0.1:9/v1',
};

const STARTUP_UI: Record<string, PrefValue> = {
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.startup.homepage': 'about:blank',
  'startup.homepage_welcome_url': 'about:blank',
  'startup.homepage_welcome_url.additional': '',
  'browser.aboutwelcome.enabled': false,
  'browser.newtabpage.enabled': false,
  'browser.newtabpage.activity-stream.feeds.system.topstories': false,
  'browser.newtabpage.activity-stream.feeds.section.topstories': false,
  'browser.newtabpage.activity-stream.feeds.topsites': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.newtabpage.activity-stream.showSponsored': false,
  'browser.newtabpage.activity-stream.showSponsoredTopSites': false,
  'browser.topsites.contile.enabled': false,
  'browser.translations.enable': false,
  'browser.ml.enable': false,
  'extensions.formautofill.addresses.enabled': false,
  'extensions.formautofill.creditCards.enabled': false,
};

const HARNESS: Record<string, PrefValue> = {
  // A free port, written to <profile>/MarionetteActivePort.
  'marionette.port': 0,
  // Keep weave/logs/success-*.txt too, so a run can be inspected afterwards.
  'services.sync.log.appender.file.logOnSuccess': true,
};

/** All prefs of the test profile for a Foxden at `origin` (e.g. http://127.0.0.1:3030). */
export function testProfilePrefs(origin: string, extra: Record<string, PrefValue> = {}): Record<string, PrefValue> {
  const root = origin.replace(/\/+$/, '');
  return { ...UPDATES_STUDIES_TELEMETRY, ...NETWORK_NOISE, ...STARTUP_UI, ...PUSH, ...accountPrefs(root), ...HARNESS, ...extra };
}

/** The prefs as user.js text: one user_pref(name, value); per line, values JSON-encoded. */
export function userJs(prefs: Record<string, PrefValue>): string {
  const lines = Object.entries(prefs).map(([name, value]) => {
    if (typeof value === 'number' && !Number.isInteger(value)) throw new Error(`pref ${name}: only integer numbers exist in prefs`);
    return `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});`;
  });
  return `// Generated by Foxden's end-to-end tests.\n${lines.join('\n')}\n`;
}
