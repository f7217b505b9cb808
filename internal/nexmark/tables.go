package nexmark

import (
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// The value lists of Beam's and Flink's Nexmark generators.
var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"phoenix", "los angeles", "san francisco", "boise", "portland", "bend", "redmond", "seattle", "kent", "cheyenne"}
	firstNames = []string{"peter", "paul", "luke", "john", "saul", "vicky", "kate", "julie", "sarah", "deiter", "walter"}
	lastNames  = []string{"shultz", "abrams", "spencer", "white", "bartels", "walton", "smith", "jones", "noris"}
	// hotChannels are the channels of half the bids; the other half spread
	// over numChannels numbered channels.
	hotChannels = []string{"Google", "Facebook", "Baidu", "Apple"}
)

const (
	// numChannels is the number of numbered channels ("channel-<n>").
	numChannels = 10_000
	// hotChannelsRatio: a bid comes through a hot channel with probability
	// 1-1/hotChannelsRatio.
	hotChannelsRatio = 2
	// hotSellerRatio, hotAuctionRatio and hotBidderRatio: the hot seller,
	// auction and bidder is the first (the second for bidders) of each
	// batch of this many persons or auctions.
	hotSellerRatio  = 100
	hotAuctionRatio = 100
	hotBidderRatio  = 100
	// personIDLead and auctionIDLead: random persons and auctions are
	// picked up to this many ids past the last one generated, as if events
	// had been swapped in time.
	personIDLead  = 10
	auctionIDLead = 10
	// minStringLength is the shortest random string before trimming.
	minStringLength = 3
	// poolSize is the length of the random text pools random strings and
	// padding are cut from; it exceeds the longest padding. A generator
	// uses only a prefix as long as it needs (at least minPool, about four
	// times its longest padding), so that the pools stay in the cache.
	poolSize = 1 << 17
	minPool  = 1 << 12
	// tablesSeed seeds the tables built once per process (URLs and pools):
	// they are the same in every process, whatever the Config's seed.
	tablesSeed = 0x6e65786d61726b // "nexmark"
)

// tables are built once, on first use, and never change.
type tables struct {
	// names are every "first last" combination, indexed
	// first*len(lastNames)+last.
	names []string
	// hotURLs are the URLs of hotChannels.
	hotURLs []string
	// channelURLs hold what is random in the URLs of the numbered
	// channels, compactly, so that the columnar path reads little memory.
	channelURLs []channelURL
	// letters is random lowercase letters (padding is cut from it); words
	// is random lowercase letters with a space about every 13 characters
	// (random strings are cut from it and trimmed).
	letters string
	words   string
}

// channelURL is what varies in a numbered channel's URL: its three path
// parts joined by slashes, and the digits of its channel_id (none if it
// has none). 32 bytes.
type channelURL struct {
	path  [14]byte
	n     uint8
	idLen uint8
	id    [11]byte // "-2147483648" for channel 1, as in Java
	_     [5]byte
}

const (
	urlPrefix = "https://www.nexmark.com/"
	urlSuffix = "/item.htm?query=1"
	urlTag    = "&channel_id="
)

var theTables = sync.OnceValue(buildTables)

func buildTables() *tables {
	r := rng{seedState(tablesSeed)}
	t := &tables{}
	for _, f := range firstNames {
		for _, l := range lastNames {
			t.names = append(t.names, f+" "+l)
		}
	}
	for range hotChannels {
		u := randomURLPath(&r)
		t.hotURLs = append(t.hotURLs, urlPrefix+string(u.path[:u.n])+urlSuffix)
	}
	t.channelURLs = make([]channelURL, numChannels)
	for i := range t.channelURLs {
		u := randomURLPath(&r)
		// Flink's Nexmark tags 9 of 10 channel URLs with an id.
		if r.intn(10) > 0 {
			u.idLen = uint8(len(strconv.AppendInt(u.id[:0], int64(channelID(i)), 10)))
		}
		t.channelURLs[i] = u
	}
	letters := make([]byte, poolSize)
	words := make([]byte, poolSize)
	for i := range letters {
		letters[i] = byte('a' + r.intn(26))
		if r.intn(13) == 0 {
			words[i] = ' '
		} else {
			words[i] = byte('a' + r.intn(26))
		}
	}
	t.letters, t.words = string(letters), string(words)
	return t
}

// appendChannel appends the name of channel ch: hot channel -1-ch if ch
// is negative, else "channel-<ch>".
func appendChannel(dst []byte, ch int) []byte {
	if ch < 0 {
		return append(dst, hotChannels[-1-ch]...)
	}
	dst = append(dst, "channel-"...)
	if ch >= numChannels {
		return strconv.AppendInt(dst, int64(ch), 10)
	}
	// ch has at most four digits.
	switch {
	case ch >= 1000:
		dst = append(dst, byte('0'+ch/1000))
		fallthrough
	case ch >= 100:
		dst = append(dst, byte('0'+ch/100%10))
		fallthrough
	case ch >= 10:
		dst = append(dst, byte('0'+ch/10%10))
	}
	return append(dst, byte('0'+ch%10))
}

// appendURL appends the URL of channel ch (see appendChannel).
func (t *tables) appendURL(dst []byte, ch int) []byte {
	if ch < 0 {
		return append(dst, t.hotURLs[-1-ch]...)
	}
	u := &t.channelURLs[ch]
	dst = append(dst, urlPrefix...)
	dst = append(dst, u.path[:u.n]...)
	dst = append(dst, urlSuffix...)
	if u.idLen > 0 {
		dst = append(append(dst, urlTag...), u.id[:u.idLen]...)
	}
	return dst
}

// channelID is the id in a channel's URL: the channel number's bits
// reversed, made positive (but for math.MinInt32, as Java's Math.abs).
func channelID(ch int) int32 {
	id := int32(bits.Reverse32(uint32(ch)))
	if id < 0 {
		id = -id
	}
	return id
}

// channelStrings are the names and URLs of the numbered channels as
// strings, for the Go values of bids; built on first use.
var channelStrings = sync.OnceValues(func() (names, urls []string) {
	t := theTables()
	names, urls = make([]string, numChannels), make([]string, numChannels)
	for i := range numChannels {
		names[i] = string(appendChannel(nil, i))
		urls[i] = string(t.appendURL(nil, i))
	}
	return names, urls
})

// randomURLPath is three random path parts of 3 or 4 characters, joined
// by slashes.
func randomURLPath(r *rng) channelURL {
	var u channelURL
	b := u.path[:0]
	for i := range 3 {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, randomString(r, 5, '_')...)
	}
	u.n = uint8(len(b))
	return u
}

// randomString is Beam's nextString: minStringLength to maxLength-1
// random letters, each replaced by special with probability 1/13, with
// spaces trimmed.
func randomString(r *rng, maxLength int64, special byte) string {
	n := minStringLength + r.intn(maxLength-minStringLength)
	b := make([]byte, n)
	for i := range b {
		if r.intn(13) == 0 {
			b[i] = special
		} else {
			b[i] = byte('a' + r.intn(26))
		}
	}
	return strings.Trim(string(b), " ")
}

// randomWords returns a random string of minStringLength to maxLength-1
// characters cut from words (a pool), spaces trimmed (Beam's nextString
// with a space as the special character, without copying).
func randomWords(words string, r *rng, maxLength int64) string {
	n := minStringLength + r.intn(maxLength-minStringLength)
	off := r.intn(int64(len(words)) - n + 1)
	s := words[off : off+n]
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// extra is Beam's nextExtra, cut from letters (a pool): padding that brings an event of currentSize
// bytes to avgSize on average (uniform within ±20% of the missing bytes),
// or nothing when the event is already that big.
func extra(letters string, r *rng, currentSize, avgSize int64) string {
	if currentSize > avgSize {
		return ""
	}
	avgSize -= currentSize
	delta := (avgSize*2 + 5) / 10 // round(avgSize * 0.2)
	n := avgSize - delta
	if delta > 0 {
		n += r.intn(2 * delta)
	}
	off := r.intn(int64(len(letters)) - n + 1)
	return letters[off : off+n]
}
