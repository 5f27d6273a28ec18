package main

import (
	"github.com/nats-io/nats.go"
	"log"
	"strings"
)

func main() {
	nc, _ := nats.Connect("localhost:4222")
	js, _ := nc.JetStream()
	sub, _ := js.PullSubscribe("ORDERS.processed", "DISPATCH")
	for {
		msgs, _ := sub.Fetch(10)
		for _, msg := range msgs {
			orderInfo := strings.Split(string(msg.Data), ".")
			orderNo := orderInfo[0]
			log.Println("处理订单", orderNo)
			// TODO 在这儿处理各种业务，处理结束，推送ORDERS.completed
			_, err := js.Publish("ORDERS.processed", []byte(orderNo+",completed"))
			if err != nil {
				log.Println(err.Error())
				continue
			}
			log.Println("订单处理完毕：" + orderNo)
			err = msg.Ack()
		}
	}
}

